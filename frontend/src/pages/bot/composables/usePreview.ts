/**
 * A bot's preview: a dry run started now (POST /preview), then its run asked for until the operator
 * has collected it (GET /runs/{job}: 404 means not yet), and where its post cards link (GET /api/config).
 */
import { computed, onScopeDispose, ref } from 'vue'
import { api } from '@/api'
import { apiError, data, type Api, type RunRecord } from '@/api/client'

export const PREVIEW_POLL_MS = 2000
/** A run ends within its deadline (10 minutes) and is collected soon after: past this, something is wrong. */
export const PREVIEW_GIVE_UP_MS = 15 * 60_000

export function usePreview(name: () => string, client: Api = api, every = PREVIEW_POLL_MS, giveUp = PREVIEW_GIVE_UP_MS) {
  const job = ref<string | null>(null)
  const result = ref<RunRecord | null>(null)
  const error = ref<unknown>(null)
  const postLink = ref<string | null>(null)
  /** No run collected within `giveUp` ms: the asking stopped. */
  const late = ref(false)
  const running = computed(() => job.value !== null && result.value === null && error.value === null && !late.value)
  let timer: ReturnType<typeof setTimeout> | undefined
  let deadline = 0
  let stopped = false

  async function start(): Promise<void> {
    if (running.value) return
    reset()
    deadline = Date.now() + giveUp
    try {
      const config = postLink.value ? null : data(client.GET('/api/config'))
      const started = await data(client.POST('/api/bots/{name}/preview', { params: { path: { name: name() } } }))
      postLink.value ??= (await config)?.postLink ?? null
      job.value = started.job
      await collected(started.job)
    } catch (caught) {
      error.value = caught
    }
  }

  /** The run once collected; until then, asked again every `every` ms. */
  async function collected(started: string): Promise<void> {
    if (stopped || job.value !== started) return
    const path = { name: name(), job: started }
    const { data: run, error: refusal, response } = await client.GET('/api/bots/{name}/runs/{job}', { params: { path } })
    if (job.value !== started) return // a newer preview, or another bot's page
    if (response.status === 404 && Date.now() > deadline) late.value = true
    else if (response.status === 404) timer = setTimeout(() => void collected(started).catch((caught: unknown) => (error.value = caught)), every)
    else if (!response.ok) error.value = apiError(response, refusal)
    else result.value = run ?? null
  }

  function reset(): void {
    clearTimeout(timer)
    job.value = result.value = error.value = null
    late.value = false
  }

  onScopeDispose(() => {
    stopped = true
    clearTimeout(timer)
  })
  return { job, result, error, postLink, late, running, start, reset }
}
