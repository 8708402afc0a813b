import { afterEach, describe, expect, it } from 'vitest'
import { createApi, CSRF_HEADER } from '@/api/client'
import { useAccount } from '@/pages/account/composables/useAccount'
import DeleteAccount from '@/pages/account/widgets/DeleteAccount.vue'
import MailSettings from '@/pages/account/widgets/MailSettings.vue'
import { mountInApp } from './mount'
import { apiServer, type Answer, type Recorded } from './server'

let server: Awaited<ReturnType<typeof apiServer>> | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
  document.body.innerHTML = ''
})

const ME = { status: 200, body: { id: 'u', email: 'ada@example.org', name: 'Ada', csrfToken: 'token-1' } }

describe('the account page', () => {
  it('keeps "Delete my account" disabled until the typed email matches exactly', async () => {
    const widget = mountInApp(DeleteAccount, { email: 'ada@example.org' }, { attachTo: document.body })
    expect(widget.text()).toContain('Type ada@example.org to confirm')
    const confirm = () => widget.find<HTMLButtonElement>('[data-test="delete-account-confirm"]')
    for (const wrong of ['', 'ada@example', 'ADA@example.org', ' ada@example.org', 'ada@example.org ']) {
      await widget.find('[data-test="delete-email"] input').setValue(wrong)
      expect(confirm().element.disabled, JSON.stringify(wrong)).toBe(true)
      await widget.find('form').trigger('submit')
      expect(widget.emitted('confirm')).toBeUndefined()
    }
    await widget.find('[data-test="delete-email"] input').setValue('ada@example.org')
    expect(confirm().element.disabled).toBe(false)
    await widget.find('form').trigger('submit')
    expect(widget.emitted('confirm')).toEqual([['ada@example.org']])
  })

  it('saves a mail switch as soon as it changes, and says when it is saved', async () => {
    const widget = mountInApp(MailSettings, { settings: { botFailing: true, credentialsRejected: true }, saving: false, saved: false })
    expect(widget.text()).toContain("When a bot's runs keep failing")
    await widget.find('[data-test="mail-botFailing"] input').trigger('click')
    expect(widget.emitted('save')).toEqual([[{ botFailing: false, credentialsRejected: true }]])
    await widget.setProps({ saving: true })
    expect(widget.find('[data-test="mail-status"]').text()).toBe('Saving…')
    expect(widget.find('[data-test="mail-botFailing"] input').attributes('disabled')).toBeDefined()
    await widget.setProps({ saving: false, saved: true })
    expect(widget.find('[data-test="mail-status"]').text()).toBe('Saved.')
  })

  it('puts the settings with the CSRF token, and on a refusal shows it and what the API keeps', async () => {
    let refuse = false
    server = await apiServer((request: Recorded): Answer => {
      if (request.path === '/api/me') return ME
      if (request.method === 'PUT' && refuse) return { status: 422, body: { detail: [{ field: 'botFailing', message: 'Input should be a valid boolean' }] } }
      return { status: 200, body: { botFailing: request.method !== 'PUT', credentialsRejected: true } }
    })
    const account = useAccount(createApi({ baseUrl: server.url, onUnauthorized: () => undefined }))
    await account.load()
    expect(account.mail.value).toEqual({ botFailing: true, credentialsRejected: true })

    await account.saveMail({ botFailing: false, credentialsRejected: true })
    expect(account.mail.value).toEqual({ botFailing: false, credentialsRejected: true })
    expect(account.saved.value).toBe(true)
    const [put] = server.requests.filter((request) => request.method === 'PUT')
    expect([put?.path, put?.headers[CSRF_HEADER.toLowerCase()]]).toEqual(['/api/account/mail', 'token-1'])

    refuse = true
    await account.saveMail({ botFailing: false, credentialsRejected: true })
    expect(account.saved.value).toBe(false)
    expect(String(account.saveError.value)).toContain('botFailing: Input should be a valid boolean')
    expect(account.mail.value, 'read again: the switches show what is kept').toEqual({ botFailing: true, credentialsRejected: true })
  })

  it('shows why a deletion was refused and stays on the page', async () => {
    server = await apiServer((request: Recorded): Answer => {
      if (request.path === '/api/me') return ME
      return { status: 422, body: { detail: [{ field: 'confirm', message: 'is not the email address of the signed-in account' }] } }
    })
    const account = useAccount(createApi({ baseUrl: server.url, onUnauthorized: () => undefined }))
    await account.deleteAccount('ada@example.com')
    expect(String(account.deleteError.value)).toContain('confirm: is not the email address')
    expect(account.deleting.value).toBe(false)
    const [sent] = server.requests.filter((request) => request.method === 'DELETE')
    expect([sent?.path, sent?.headers[CSRF_HEADER.toLowerCase()]]).toEqual(['/api/account', 'token-1'])
  })
})
