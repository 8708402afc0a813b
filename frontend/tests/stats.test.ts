// @vitest-environment node
import { afterEach, describe, expect, it } from 'vitest'
import { ref } from 'vue'
import { createApi, type StatsRange } from '@/api/client'
import { useStats } from '@/pages/bot/composables/useStats'
import { apiServer, type Answer } from './server'

let server: Awaited<ReturnType<typeof apiServer>> | undefined
afterEach(async () => server?.close())

describe('the bot page\'s stats', () => {
  it('drop an answer for a range the user has left, even when it arrives last', async () => {
    let release = () => undefined as void
    const held = new Promise<void>((resolve) => (release = resolve))
    server = await apiServer(async (request): Promise<Answer> => {
      const range = new URL(request.path, 'http://api').searchParams.get('range')
      if (range === '24h') await held // the slow answer, held until the next range's answer is in
      return { status: 200, body: { range, bucketSeconds: 3600, buckets: [] } }
    })
    const range = ref<StatsRange>('24h')
    const { stats, load } = useStats(() => 'news', () => range.value, createApi({ baseUrl: server.url, onUnauthorized: () => undefined }))

    const slow = load()
    while (server.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 1)) // the 24 h request is at the server
    range.value = '7d'
    await load()
    expect(stats.value?.range).toBe('7d')
    release()
    await slow
    expect(stats.value?.range).toBe('7d')
    expect(server.requests.map((request) => request.path)).toEqual(['/api/bots/news/stats?range=24h', '/api/bots/news/stats?range=7d'])
  })
})
