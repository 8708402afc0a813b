// @vitest-environment node
import { afterEach, describe, expect, it } from 'vitest'
import { ref } from 'vue'
import { createApi, type StatsRange } from '@/api/client'
import { useStats } from '@/pages/bot/composables/useStats'
import { apiServer, type Answer } from './server'

let server: Awaited<ReturnType<typeof apiServer>> | undefined
afterEach(async () => server?.close())

describe('the bot page\'s stats', () => {
  /** The stats endpoint, holding the answer for `slow` until released; each answer names its bot and range. */
  async function holding(slow: string) {
    let release = () => undefined as void
    const held = new Promise<void>((resolve) => (release = resolve))
    server = await apiServer(async (request): Promise<Answer> => {
      const url = new URL(request.path, 'http://api')
      const answer = `${url.pathname.split('/')[3]} ${url.searchParams.get('range')}`
      if (answer === slow) await held
      return { status: 200, body: { range: answer, bucketSeconds: 3600, buckets: [] } }
    })
    return { release, api: createApi({ baseUrl: server.url, onUnauthorized: () => undefined }) }
  }

  it.each([
    ['a range', { bot: 'news', range: '7d' }],
    ['a bot', { bot: 'art', range: '24h' }],
  ] as const)('drop an answer for %s the user has left, even when it arrives last', async (_, next) => {
    const { release, api } = await holding('news 24h')
    const shown = ref<{ bot: string; range: StatsRange }>({ bot: 'news', range: '24h' })
    const { stats, load } = useStats(() => shown.value.bot, () => shown.value.range, api)

    const slow = load()
    while (server!.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 1)) // the first request is at the server
    shown.value = next
    await load()
    expect(stats.value?.range).toBe(`${next.bot} ${next.range}`)
    release()
    await slow
    expect(stats.value?.range).toBe(`${next.bot} ${next.range}`)
    expect(server!.requests.map((request) => request.path)).toEqual(['/api/bots/news/stats?range=24h', `/api/bots/${next.bot}/stats?range=${next.range}`])
  })
})
