/** A bot's stats for the range shown; an answer for a range or a bot the user has left meanwhile is dropped, whichever comes last. */
import { ref } from 'vue'
import { api as defaultApi } from '@/api'
import { data, type Api, type Stats, type StatsRange } from '@/api/client'

export function useStats(name: () => string, range: () => StatsRange, api: Api = defaultApi) {
  const stats = ref<Stats | null>(null)

  async function load(): Promise<void> {
    const [bot, asked] = [name(), range()]
    const answer = await data(api.GET('/api/bots/{name}/stats', { params: { path: { name: bot }, query: { range: asked } } }))
    if (bot === name() && asked === range()) stats.value = answer
  }

  return { stats, load }
}
