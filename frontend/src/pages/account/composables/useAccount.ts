/**
 * The account page's data: who is signed in (the session store), which mails they get (saved as
 * soon as a switch changes, one save at a time), and deleting the account.
 */
import { ref } from 'vue'
import { api } from '@/api'
import { data, type Api, type MailSettings } from '@/api/client'

export function useAccount(client: Api = api) {
  const mail = ref<MailSettings | null>(null)
  const loading = ref(true)
  const error = ref<unknown>(null)
  const saving = ref(false)
  const saved = ref(false)
  const saveError = ref<unknown>(null)
  const deleting = ref(false)
  const deleteError = ref<unknown>(null)

  async function load(): Promise<void> {
    loading.value = true
    error.value = null
    try {
      mail.value = await data(client.GET('/api/account/mail'))
    } catch (caught) {
      error.value = caught
    } finally {
      loading.value = false
    }
  }

  /** Save the settings as they are now; on a refusal, show it and the settings the API keeps. */
  async function saveMail(settings: MailSettings): Promise<void> {
    saving.value = true
    saved.value = false
    saveError.value = null
    try {
      mail.value = await data(client.PUT('/api/account/mail', { body: settings }))
      saved.value = true
    } catch (caught) {
      saveError.value = caught
      await load()
    } finally {
      saving.value = false
    }
  }

  /** Delete the account, confirmed by the typed email; then the signed-out page (the site's home). */
  async function deleteAccount(confirm: string): Promise<void> {
    deleting.value = true
    deleteError.value = null
    try {
      await data(client.DELETE('/api/account', { body: { confirm } }))
      window.location.assign('/')
    } catch (caught) {
      deleteError.value = caught
    } finally {
      deleting.value = false
    }
  }

  return { mail, loading, error, saving, saved, saveError, deleting, deleteError, load, saveMail, deleteAccount }
}
