import { mount } from '@vue/test-utils'
import { afterEach, describe, expect, it } from 'vitest'
import { defineComponent, h } from 'vue'
import { createMemoryHistory, createRouter } from 'vue-router'
import type { RunRecord } from '@/api/client'
import { rangeOf, useRange } from '@/pages/bot/composables/useRange'
import RunsTable from '@/pages/bot/widgets/RunsTable.vue'
import { mountInApp } from './mount'

afterEach(() => {
  document.body.innerHTML = ''
})

const RUN = {
  job: 'bot-news-1',
  startedAt: '2026-12-01T10:00:00Z',
  outcome: 'rateLimited',
  candidates: 9,
  reposted: 2,
  duplicates: 1,
  rejected: { reply: 1, too_old: 4, shiny_new: 1 },
  message: 'stopped at the hourly limit',
} as unknown as RunRecord

describe('the runs table', () => {
  it('shows each run with its rejections by reason in words, the most first', () => {
    const table = mountInApp(RunsTable, { runs: [RUN], more: false })
    const cells = table.findAll('[data-test="runs"] tbody td').map((cell) => cell.text())
    expect(cells.slice(1)).toEqual(['rate-limited', '9', '2', '1', "Older than the bot's maximum age: 4, A reply: 1, shiny_new: 1", 'stopped at the hourly limit'])
    expect(table.findAll('[data-test="runs"] th[scope="col"]').map((th) => th.text())).toHaveLength(cells.length)
  })

  it('says there are no runs yet, with no row in the table', () => {
    const table = mountInApp(RunsTable, { runs: [], more: false })
    expect(table.findAll('[data-test="runs"] tbody tr')).toHaveLength(0)
    expect(table.find('[data-test="runs-empty"]').text()).toBe('No runs yet.')
  })

  it('asks for older runs with a button, and moves the focus to the end line when the last page is in', async () => {
    const table = mountInApp(RunsTable, { runs: [RUN], more: true }, { attachTo: document.body })
    const button = table.find<HTMLButtonElement>('button[data-test="runs-more"]')
    expect(button.text()).toBe('Older runs')
    button.element.focus()
    await button.trigger('click')
    expect(table.emitted('more')).toHaveLength(1)

    await table.setProps({ runs: [RUN, { ...RUN, job: 'bot-news-0' }], more: false })
    await table.vm.$nextTick()
    expect(table.find('[data-test="runs-more"]').exists()).toBe(false)
    expect(document.activeElement).toBe(table.find('[data-test="runs-end"]').element)
    expect(table.find('[aria-live="polite"]').text()).toBe('2 runs shown')
  })

  it('leaves the focus alone when the runs simply end (no one asked for more)', async () => {
    const table = mountInApp(RunsTable, { runs: [RUN], more: true }, { attachTo: document.body })
    await table.setProps({ more: false })
    await table.vm.$nextTick()
    expect(document.activeElement).toBe(document.body)
  })
})

describe('the chart range in the address', () => {
  it.each([
    ['7d', '7d'],
    ['30d', '30d'],
    ['1y', '24h'],
    [['7d', '30d'], '24h'],
    [undefined, '24h'],
  ])('?range=%j reads as %s', (query, range) => {
    expect(rangeOf(query)).toBe(range)
  })

  it('is read from the query, and a new one replaces the address, keeping the rest of the query', async () => {
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/bots/:name', component: { render: () => null } }] })
    await router.push('/bots/art')
    await router.push('/bots/news?range=7d&tab=runs')
    let range: ReturnType<typeof useRange> | undefined
    mount(defineComponent({ setup: () => ((range = useRange()), () => h('div')) }), { global: { plugins: [router] } })

    expect(range!.value).toBe('7d')
    range!.value = '30d'
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(router.currentRoute.value.fullPath).toBe('/bots/news?range=30d&tab=runs')
    expect(range!.value).toBe('30d')
    router.back()
    await new Promise((resolve) => setTimeout(resolve, 0))
    expect(router.currentRoute.value.fullPath).toBe('/bots/art') // replaced, not pushed: back leaves the bot page
  })
})
