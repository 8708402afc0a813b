/** The bot form's life: load the bot to edit, save it, put a 422's problems at their fields, offer a reload on 409. */
import { ref } from 'vue'
import { useRouter } from 'vue-router'
import { api } from '@/api'
import { ApiError, data } from '@/api/client'
import { useBotsStore } from '@/stores/bots'
import { fieldOf, formOf, newForm, specOf, type FormState } from '../form'

export function useBotForm(editing: () => string | undefined) {
  const store = useBotsStore()
  const router = useRouter()
  const form = ref<FormState>(newForm())
  const resourceVersion = ref('')
  const fields = ref<Record<string, string>>({})
  const unplaced = ref<string[]>([])
  const conflict = ref(false)
  const error = ref<unknown>(null)
  const saving = ref(false)
  const loading = ref(false)

  function clearProblems(): void {
    fields.value = {}
    unplaced.value = []
    conflict.value = false
    error.value = null
  }

  async function load(): Promise<void> {
    const name = editing()
    clearProblems()
    if (name === undefined) return
    loading.value = true
    try {
      const bot = await store.load(name)
      form.value = formOf(bot.name, bot.spec)
      resourceVersion.value = bot.resourceVersion
    } catch (caught) {
      error.value = caught
    } finally {
      loading.value = false
    }
  }

  async function save(): Promise<void> {
    clearProblems()
    saving.value = true
    const name = editing()
    const spec = specOf(form.value, name === undefined)
    try {
      const saved =
        name === undefined
          ? await data(api.POST('/api/bots', { body: { name: form.value.name.trim(), appPassword: form.value.appPassword, spec } }))
          : await data(
              api.PATCH('/api/bots/{name}', {
                params: { path: { name } },
                body: { resourceVersion: resourceVersion.value, spec, ...(form.value.appPassword ? { appPassword: form.value.appPassword } : {}) },
              }),
            )
      store.bots[saved.name] = saved
      await router.push({ name: 'bot', params: { name: saved.name } })
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 422) {
        for (const [path, message] of Object.entries(caught.fields)) {
          const field = fieldOf(path)
          if (field === null) unplaced.value.push(`${path}: ${message}`)
          else fields.value[field] = message
        }
      } else if (caught instanceof ApiError && caught.status === 409 && name !== undefined) conflict.value = true
      else error.value = caught
    } finally {
      saving.value = false
    }
  }

  return { form, fields, unplaced, conflict, error, saving, loading, load, save }
}
