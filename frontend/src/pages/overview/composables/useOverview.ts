/**
 * The overview's data: every bot, and each one's reposts of the last 24 hours by the hour (from its stats);
 * kept current by polling, with the stats of a bot read again when its last run changes.
 */
import { ref } from 'vue'
import { api } from '@/api'
import { data, type BotView } from '@/api/client'
import { usePolling } from '@/lib/polling'
import { lastRunOf, useBotsStore } from '@/stores/bots'

export function useOverview() {
  const store = useBotsStore()
  const bots = ref<BotView[]>([])
  const reposts24h = ref<Record<string, number[]>>({})
  const loading = ref(true)
  const error = ref<unknown>(null)

  async function readReposts(some: BotView[]): Promise<void> {
    const sums = await Promise.all(
      some.map(async (bot) => {
        const stats = await data(api.GET('/api/bots/{name}/stats', { params: { path: { name: bot.name }, query: { range: '24h' } } }))
        return [bot.name, stats.buckets.map((bucket) => bucket.reposted ?? 0)] as const
      }),
    )
    reposts24h.value = { ...reposts24h.value, ...Object.fromEntries(sums) }
  }

  async function load(): Promise<void> {
    loading.value = true
    error.value = null
    try {
      bots.value = await store.loadAll()
      await readReposts(bots.value)
    } catch (caught) {
      error.value = caught
    } finally {
      loading.value = false
    }
  }

  /** The bots again (a 304 while none changed); the stats only of those whose last run is new. */
  async function refresh(): Promise<void> {
    if (loading.value || error.value) return
    const before = new Map(bots.value.map((bot) => [bot.name, lastRunOf(bot)]))
    bots.value = await store.loadAll()
    await readReposts(bots.value.filter((bot) => before.get(bot.name) !== lastRunOf(bot)))
  }

  const { failure } = usePolling(refresh)
  return { bots, reposts24h, loading, error, failure, load }
}
