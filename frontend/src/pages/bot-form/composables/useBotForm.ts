/**
 * The bot form's life: load the bot to edit; check it as the user types (a field's problem shows once
 * the user has left it, every field's after a save was tried, and none is sent while one stands);
 * save it, put a 422's problems at their fields, offer a reload on 409.
 */
import { computed, ref } from 'vue'
import { useI18n } from 'petite-vue-i18n'
import { useRouter } from 'vue-router'
import { api } from '@/api'
import { ApiError, data } from '@/api/client'
import { useBotsStore } from '@/stores/bots'
import { formProblems } from '../checks'
import { createBodyOf, fieldOf, formOf, newForm, updateBodyOf, type FormState } from '../form'

export function useBotForm(editing: () => string | undefined) {
  const store = useBotsStore()
  const router = useRouter()
  const form = ref<FormState>(newForm())
  const resourceVersion = ref('')
  const said = ref<Record<string, string>>({})  // what the API said (its 422), by form field
  const unplaced = ref<string[]>([])
  const conflict = ref(false)
  const error = ref<unknown>(null)
  const saving = ref(false)
  const loading = ref(false)
  const { t } = useI18n()
  /** The fields the user has left, and whether a save was tried: until then a field's problem is not shown. */
  const touched = ref(new Set<string>())
  const tried = ref(false)
  const known = computed(() => formProblems(form.value, editing() !== undefined, t))
  /** What each field shows: what the client knows once the field was touched, else what the API said. */
  const shown = computed(() => {
    const problems = { ...said.value }
    for (const [field, words] of Object.entries(known.value)) if (tried.value || touched.value.has(field)) problems[field] = words
    return problems
  })

  function touch(field: string): void {
    touched.value.add(field)
  }

  function clearProblems(): void {
    said.value = {}
    unplaced.value = []
    conflict.value = false
    error.value = null
  }

  /** Read the bot into the form. What the page says (a 409's offer to reload) stays until the new version is in. */
  async function load(): Promise<void> {
    const name = editing()
    touched.value = new Set()
    tried.value = false
    if (name === undefined) return clearProblems()
    loading.value = true
    try {
      const bot = await store.load(name)
      form.value = formOf(bot.name, bot.spec)
      resourceVersion.value = bot.resourceVersion
      clearProblems()
    } catch (caught) {
      error.value = caught
    } finally {
      loading.value = false
    }
  }

  async function save(): Promise<void> {
    clearProblems()
    tried.value = true
    if (Object.keys(known.value).length) return
    saving.value = true
    const name = editing()
    try {
      const saved =
        name === undefined
          ? await data(api.POST('/api/bots', { body: createBodyOf(form.value) }))
          : await data(api.PATCH('/api/bots/{name}', { params: { path: { name } }, body: updateBodyOf(form.value, resourceVersion.value) }))
      store.bots[saved.name] = saved
      await router.push({ name: 'bot', params: { name: saved.name } })
    } catch (caught) {
      if (caught instanceof ApiError && caught.status === 422) {
        for (const [path, message] of Object.entries(caught.fields)) {
          const field = fieldOf(path)
          if (field === null) unplaced.value.push(`${path}: ${message}`)
          else said.value[field] = message
        }
      } else if (caught instanceof ApiError && caught.status === 409) {
        // An edit crossed a change made elsewhere; a new bot's name is taken (the API says so).
        if (name !== undefined) conflict.value = true
        else said.value.name = caught.said
      } else error.value = caught
    } finally {
      saving.value = false
    }
  }

  return { form, shown, unplaced, conflict, error, saving, loading, load, save, touch }
}
