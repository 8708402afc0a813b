import { flushPromises, mount } from '@vue/test-utils'
import { createPinia } from 'pinia'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import { i18n } from '@/i18n'
import AppLayout from '@/layouts/AppLayout.vue'
import { catchUnexpected, unexpected } from '@/lib/unexpected'
import { vuestic } from '@/vuestic.config'

afterEach(() => {
  unexpected.value = null
  vi.restoreAllMocks()
})

/** A page with a fault of its own: a button whose handler throws. */
const Faulty = defineComponent({
  setup: () => () =>
    h('button', { 'data-test': 'faulty', onClick: () => JSON.parse('{"stats": ') }, 'Show stats'),
})

function app() {
  vi.spyOn(console, 'error').mockImplementation(() => undefined) // the stack goes to the console, and only there
  return mount(AppLayout, {
    slots: { default: Faulty },
    global: { plugins: [i18n, vuestic, createPinia(), { install: (vue) => catchUnexpected(vue, null) }], stubs: { RouterLink: true } },
  })
}

describe('a fault no page caught', () => {
  it('shows a friendly message with a reload, not the error or its stack', async () => {
    const page = app()
    await page.find('[data-test="faulty"]').trigger('click')
    await flushPromises()
    const alert = page.find('[data-test="unexpected"]')
    expect(alert.text()).toContain('Something went wrong in this page. Reload it to go on.')
    expect(alert.find('[data-test="reload-page"]').exists()).toBe(true)
    expect(page.text()).not.toMatch(/JSON|SyntaxError|\.(ts|js):\d+/)
  })

  it('shows a promise nobody awaited the same way', async () => {
    const page = app()
    window.dispatchEvent(Object.assign(new Event('unhandledrejection'), { reason: new Error('Cannot read properties of undefined') }))
    await flushPromises()
    expect(page.find('[data-test="unexpected"]').text()).toContain('Something went wrong in this page.')
    expect(page.text()).not.toContain('Cannot read properties')
  })
})
