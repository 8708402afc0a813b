/**
 * One bot's page: the bot, its stats for a range, its runs, and its actions (pause, resume, run now,
 * delete); kept current by polling, with the runs and stats read again when its last run changes.
 */
import { computed, ref, watch } from 'vue'
import { useRouter } from 'vue-router'
import { api } from '@/api'
import { data, type RunRecord, type Stats, type StatsRange } from '@/api/client'
import { usePolling } from '@/lib/polling'
import { lastRunOf, useBotsStore, type BotAction } from '@/stores/bots'

export function useBot(name: () => string, range: () => StatsRange) {
  const store = useBotsStore()
  const router = useRouter()
  const bot = computed(() => store.bots[name()])
  const stats = ref<Stats | null>(null)
  const runs = ref<RunRecord[]>([])
  const loading = ref(true)
  const error = ref<unknown>(null)
  const busy = ref(false)
  const started = ref<string | null>(null)

  /** The stats of the range shown; an answer for a range the user has left meanwhile is dropped. */
  async function loadStats(): Promise<void> {
    const asked = range()
    const answer = await data(api.GET('/api/bots/{name}/stats', { params: { path: { name: name() }, query: { range: asked } } }))
    if (asked === range()) stats.value = answer
  }

  async function loadRuns(): Promise<void> {
    runs.value = await data(api.GET('/api/bots/{name}/runs', { params: { path: { name: name() }, query: { limit: 50 } } }))
  }

  async function load(): Promise<void> {
    loading.value = true
    error.value = null
    try {
      await Promise.all([store.load(name()), loadStats(), loadRuns()])
    } catch (caught) {
      error.value = caught
    } finally {
      loading.value = false
    }
  }

  async function act(action: BotAction | 'run' | 'delete'): Promise<void> {
    busy.value = true
    error.value = null
    try {
      if (action === 'run') started.value = await store.runNow(name())
      else if (action === 'delete') {
        await store.remove(name())
        await router.push({ name: 'overview' })
      } else await store.act(name(), action)
    } catch (caught) {
      error.value = caught
    } finally {
      busy.value = false
    }
  }

  /** The bot again (a 304 while it is unchanged); its runs and stats when its last run is new. */
  async function refresh(): Promise<void> {
    if (loading.value || !bot.value) return
    const before = lastRunOf(bot.value)
    await store.load(name())
    if (lastRunOf(bot.value) !== before) await Promise.all([loadStats(), loadRuns()])
  }

  const { failure } = usePolling(refresh)
  watch(range, () => loadStats().catch((caught: unknown) => (error.value = caught)))
  watch(name, load)

  return { bot, stats, runs, loading, error, failure, busy, started, load, act }
}
