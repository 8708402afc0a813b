// @vitest-environment node
import { createPinia, defineStore, setActivePinia } from 'pinia'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { effectScope } from 'vue'
import { createApi } from '@/api/client'
import { usePolling } from '@/lib/polling'
import { botsStore } from '@/stores/bots'
import { apiServer, type Answer, type Recorded } from './server'

let server: Awaited<ReturnType<typeof apiServer>> | undefined
afterEach(async () => server?.close())

/** The API's bots as a table the test changes; each answer's ETag is its version, and a matching If-None-Match is a 304. */
function bots(table: Record<string, { version: number; status: object }>) {
  const tagOf = (names: string[]) => `"${names.map((name) => `${name}@${table[name]!.version}`).join(',')}"`
  const view = (name: string) => ({ name, spec: {}, status: table[name]!.status, resourceVersion: String(table[name]!.version) })
  return (request: Recorded): Answer => {
    const name = decodeURIComponent(request.path.split('/')[3] ?? '')
    if (name && !table[name]) return { status: 404, body: { detail: `You have no bot named '${name}'.` } }
    const tag = tagOf(name ? [name] : Object.keys(table))
    if (request.headers['if-none-match'] === tag) return { status: 304, headers: { etag: tag } }
    return { status: 200, body: name ? view(name) : Object.keys(table).map(view), headers: { etag: tag } }
  }
}

function store(url: string) {
  setActivePinia(createPinia())
  return defineStore('bots', botsStore(createApi({ baseUrl: url, onUnauthorized: () => undefined })))()
}

describe('the bots store reads conditionally', () => {
  it('sends the ETag it holds; a 304 keeps its bots, a 200 takes the new ones and their ETag', async () => {
    const table = { news: { version: 1, status: { totals: { runs: 1 } } }, art: { version: 2, status: {} } }
    server = await apiServer(bots(table))
    const bots_ = store(server.url)

    const first = await bots_.loadAll()
    const unchanged = await bots_.loadAll()
    table.news = { version: 3, status: { totals: { runs: 2 } } }
    const changed = await bots_.loadAll()
    delete (table as Record<string, unknown>).art
    const fewer = await bots_.loadAll()

    const sent = server.requests.map((request) => request.headers['if-none-match'])
    expect(sent).toEqual([undefined, '"news@1,art@2"', '"news@1,art@2"', '"news@3,art@2"'])
    expect(unchanged).toEqual(first)
    expect(changed.map((bot) => bot.status)).toEqual([{ totals: { runs: 2 } }, {}])
    expect(fewer.map((bot) => bot.name)).toEqual(['news'])
    expect(Object.keys(bots_.bots)).toEqual(['news'])
  })

  it('reads one bot the same way, and whole again after its own write', async () => {
    const table = { news: { version: 1, status: {} } }
    server = await apiServer((request) => (request.method === 'POST' ? { status: 200, body: { name: 'news', spec: { suspend: true }, status: {}, resourceVersion: '2' } } : bots(table)(request)))
    const bots_ = store(server.url)

    await bots_.load('news')
    const same = await bots_.load('news')
    await bots_.act('news', 'pause')
    await bots_.load('news')

    const reads = server.requests.filter((request) => request.method === 'GET' && request.path !== '/api/me').map((request) => request.headers['if-none-match'])
    expect(reads).toEqual([undefined, '"news@1"', undefined])
    expect(same.resourceVersion).toBe('1')
  })

  it('turns any refusal but a 304 into an error', async () => {
    server = await apiServer(bots({}))
    await expect(store(server.url).load('gone')).rejects.toMatchObject({ status: 404 })
  })
})

describe('polling', () => {
  let visibility: DocumentVisibilityState
  const page = new EventTarget() as Document
  Object.defineProperty(page, 'visibilityState', { get: () => visibility })
  const show = (state: DocumentVisibilityState) => {
    visibility = state
    page.dispatchEvent(new Event('visibilitychange'))
  }

  beforeEach(() => {
    vi.useFakeTimers()
    visibility = 'visible'
  })
  afterEach(() => vi.useRealTimers())

  it('ticks every 5 s while the tab is visible, never while hidden, and at once when it shows again', async () => {
    const tick = vi.fn(async () => undefined)
    const scope = effectScope()
    scope.run(() => usePolling(tick, 5000, page))

    await vi.advanceTimersByTimeAsync(14_999)
    expect(tick).toHaveBeenCalledTimes(2)
    show('hidden')
    await vi.advanceTimersByTimeAsync(60_000)
    expect(tick).toHaveBeenCalledTimes(2)
    show('visible')
    await vi.advanceTimersByTimeAsync(0)
    expect(tick).toHaveBeenCalledTimes(3)
    await vi.advanceTimersByTimeAsync(5000)
    expect(tick).toHaveBeenCalledTimes(4)

    scope.stop()
    show('hidden')
    show('visible')
    await vi.advanceTimersByTimeAsync(60_000)
    expect(tick).toHaveBeenCalledTimes(4)
  })

  it('never overlaps a slow tick, and keeps a failure until a tick works', async () => {
    let finish = () => undefined as void
    let calls = 0
    const tick = vi.fn(() => {
      calls += 1
      if (calls === 2) return Promise.reject(new Error('offline'))
      return calls === 1 ? new Promise<void>((resolve) => (finish = resolve)) : Promise.resolve()
    })
    const scope = effectScope()
    const { failure } = scope.run(() => usePolling(tick, 5000, page))!

    await vi.advanceTimersByTimeAsync(5000) // the first tick, held
    show('hidden')
    show('visible') // no second tick while the first is running
    await vi.advanceTimersByTimeAsync(30_000)
    expect(tick).toHaveBeenCalledTimes(1)
    finish()
    await vi.advanceTimersByTimeAsync(5000)
    expect(tick).toHaveBeenCalledTimes(2)
    expect((failure.value as Error).message).toBe('offline')
    await vi.advanceTimersByTimeAsync(5000)
    expect(tick).toHaveBeenCalledTimes(3)
    expect(failure.value).toBeNull()
    scope.stop()
  })
})
