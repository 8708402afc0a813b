import { flushPromises, mount } from '@vue/test-utils'
import { createPinia } from 'pinia'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { i18n } from '@/i18n'
import { vuestic } from '@/vuestic.config'
import type { Answer, Recorded } from './server'

// The page's API client, pointed at a stand-in HTTP server (the app's own is relative to the page).
const stand = vi.hoisted(() => ({ close: async () => undefined as void }))
vi.mock('@/api', async () => {
  const { createApi } = await import('@/api/client')
  const { apiServer } = await import('./server')
  const server = await apiServer((request: Recorded): Answer => {
    if (request.path === '/api/me') return { status: 200, body: { id: 'u', email: 'ada@example.org', name: 'Ada', csrfToken: 't' } }
    return { status: 200, body: { botFailing: false, credentialsRejected: true } }
  })
  stand.close = server.close
  return { api: createApi({ baseUrl: server.url, onUnauthorized: () => undefined }) }
})
afterAll(() => stand.close())

describe('the account page', () => {
  it('shows who is signed in, the mails they get, the download and the guarded delete', async () => {
    const { default: AccountPage } = await import('@/pages/account/AccountPage.vue')
    const page = mount(AccountPage, { global: { plugins: [createPinia(), i18n, vuestic], stubs: { RouterLink: true } } })
    await vi.waitFor(async () => {
      await flushPromises()
      expect(page.find('[data-test="mail-botFailing"]').exists()).toBe(true)
    })
    expect(page.find('h1').text()).toBe('Your account')
    expect(page.find('[data-test="account-who"]').text()).toContain('ada@example.org')
    const checked = (mail: string) => page.find(`[data-test="mail-${mail}"] input`).attributes('aria-checked')
    expect([checked('botFailing'), checked('credentialsRejected')]).toEqual(['false', 'true'])
    const download = page.find('[data-test="export"]')
    expect([download.attributes('href'), download.attributes('download'), download.text()]).toEqual([
      '/api/account/bots.yaml',
      'skybots-bots.yaml',
      'Download my bots (YAML)',
    ])
    expect(page.find('[data-test="delete-email"]').text()).toContain('Type ada@example.org to confirm')
    expect(page.find<HTMLButtonElement>('[data-test="delete-account-confirm"]').element.disabled).toBe(true)
    expect(page.find('#mail').exists(), 'the mails link here (account#mail)').toBe(true)
  })
})
