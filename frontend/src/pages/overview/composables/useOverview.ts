/** The overview's data: every bot, and each one's reposts of the last 24 hours (from its stats). */
import { ref } from 'vue'
import { api } from '@/api'
import { data, type BotView } from '@/api/client'
import { useBotsStore } from '@/stores/bots'

export function useOverview() {
  const store = useBotsStore()
  const bots = ref<BotView[]>([])
  const reposts24h = ref<Record<string, number>>({})
  const loading = ref(true)
  const error = ref<unknown>(null)

  async function load(): Promise<void> {
    loading.value = true
    error.value = null
    try {
      bots.value = await store.loadAll()
      const sums = await Promise.all(
        bots.value.map(async (bot) => {
          const stats = await data(api.GET('/api/bots/{name}/stats', { params: { path: { name: bot.name }, query: { range: '24h' } } }))
          return [bot.name, stats.buckets.reduce((sum, bucket) => sum + (bucket.reposted ?? 0), 0)] as const
        }),
      )
      reposts24h.value = Object.fromEntries(sums)
    } catch (caught) {
      error.value = caught
    } finally {
      loading.value = false
    }
  }

  return { bots, reposts24h, loading, error, load }
}
