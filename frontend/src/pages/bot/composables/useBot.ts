/**
 * One bot's page: the bot, its stats for a range, its runs, and its actions (pause, resume, run now,
 * delete); kept current by polling, with the runs (their first page) and stats read again when its
 * last run changes.
 */
import { computed, ref, watch } from 'vue'
import { useRouter } from 'vue-router'
import type { StatsRange } from '@/api/client'
import { usePolling } from '@/lib/polling'
import { lastRunOf, useBotsStore, type BotAction } from '@/stores/bots'
import { useRuns } from './useRuns'
import { useStats } from './useStats'

export function useBot(name: () => string, range: () => StatsRange) {
  const store = useBotsStore()
  const router = useRouter()
  const bot = computed(() => store.bots[name()])
  const { stats, load: loadStats } = useStats(name, range)
  const pages = useRuns(name)
  const loading = ref(true)
  const error = ref<unknown>(null)
  const busy = ref(false)
  const started = ref<string | null>(null)

  async function load(): Promise<void> {
    loading.value = true
    error.value = null
    try {
      await Promise.all([store.load(name()), loadStats(), pages.reload()])
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
    if (lastRunOf(bot.value) !== before) await Promise.all([loadStats(), pages.reload()])
  }

  /** The next page of runs, below those shown; a failure is shown like any other. */
  async function moreRuns(): Promise<void> {
    await pages.more().catch((caught: unknown) => (error.value = caught))
  }

  const { failure } = usePolling(refresh)
  watch(range, () => loadStats().catch((caught: unknown) => (error.value = caught)))
  watch(name, load)

  const olderRuns = computed(() => pages.cursor.value !== null)
  return { bot, stats, runs: pages.runs, olderRuns, loadingRuns: pages.loadingMore, moreRuns, loading, error, failure, busy, started, load, act }
}
