// @vitest-environment node
import { afterEach, describe, expect, it } from 'vitest'
import { createApi, nextCursor, type RunRecord } from '@/api/client'
import { RUNS_PAGE, useRuns } from '@/pages/bot/composables/useRuns'
import { apiServer, type Answer, type Recorded } from './server'

let server: Awaited<ReturnType<typeof apiServer>> | undefined
afterEach(async () => server?.close())

const START = Date.parse('2026-12-01T00:00:00Z')

function run(minute: number): RunRecord {
  const startedAt = new Date(START + minute * 60_000).toISOString().replace('.000Z', '.000000Z')
  return { job: `bot-news-${minute}`, startedAt, outcome: 'succeeded', candidates: minute, reposted: 0, duplicates: 0, rejected: {} } as unknown as RunRecord
}

/** GET /api/bots/news/runs as the API pages it: newest first, `before` a "<startedAt>#<job>" cursor, a Link to the next page. */
function history(runs: RunRecord[]) {
  return (request: Recorded): Answer => {
    const url = new URL(request.path, 'http://api')
    const limit = Number(url.searchParams.get('limit') ?? 50)
    const before = url.searchParams.get('before')
    const newest = [...runs].sort((a, b) => Date.parse(b.startedAt) - Date.parse(a.startedAt))
    const from = before ? newest.findIndex((r) => `${r.startedAt}#${r.job}` === before) + 1 : 0
    const page = newest.slice(from, from + limit)
    const last = page.at(-1)
    const more = from + limit < newest.length && last
    const headers: Record<string, string> = more
      ? { link: `</api/bots/news/runs?${new URLSearchParams({ limit: String(limit), before: `${last.startedAt}#${last.job}` })}>; rel="next"` }
      : {}
    return { status: 200, body: page, headers }
  }
}

const jobs = (runs: RunRecord[]) => runs.map((r) => r.job)
const asked = () => server!.requests.map((request) => new URL(request.path, 'http://api').searchParams.get('before'))

describe('the runs table pages with the API\'s cursor', () => {
  it('follows each page\'s Link: rel="next" until there is none', async () => {
    const runs = Array.from({ length: 2 * RUNS_PAGE + 3 }, (_, minute) => run(minute))
    server = await apiServer(history(runs))
    const pager = useRuns(() => 'news', createApi({ baseUrl: server.url, onUnauthorized: () => undefined }))

    await pager.reload()
    expect(pager.runs.value).toHaveLength(RUNS_PAGE)
    const firstCursor = pager.cursor.value
    expect(firstCursor).toBe(`${runs[RUNS_PAGE + 3]!.startedAt}#bot-news-${RUNS_PAGE + 3}`)
    await pager.more()
    await pager.more()
    expect(pager.cursor.value).toBeNull()
    await pager.more() // nothing left: nothing asked

    expect(jobs(pager.runs.value)).toEqual(jobs([...runs].reverse()))
    expect(asked()).toEqual([null, firstCursor, `${runs[3]!.startedAt}#bot-news-3`])
    expect(server.requests.every((request) => request.path.startsWith(`/api/bots/news/runs?limit=${RUNS_PAGE}`))).toBe(true)
  })

  it('reads the first page again when a run ends, keeping the older pages shown, each run once', async () => {
    const runs = Array.from({ length: RUNS_PAGE + 10 }, (_, minute) => run(minute))
    server = await apiServer(history(runs))
    const pager = useRuns(() => 'news', createApi({ baseUrl: server.url, onUnauthorized: () => undefined }))
    await pager.reload()
    await pager.more()
    expect(pager.cursor.value).toBeNull()

    runs.push(run(1000), run(1001))
    await pager.reload()

    expect(jobs(pager.runs.value)).toEqual(jobs([...runs].reverse()))
    expect(pager.cursor.value).toBeNull()
  })

  it('on the first page alone, a reload takes the new first page and its cursor', async () => {
    const runs = Array.from({ length: RUNS_PAGE + 1 }, (_, minute) => run(minute))
    server = await apiServer(history(runs))
    const pager = useRuns(() => 'news', createApi({ baseUrl: server.url, onUnauthorized: () => undefined }))
    await pager.reload()
    runs.push(run(1000))
    await pager.reload()
    expect(jobs(pager.runs.value)).toEqual(jobs([...runs].reverse().slice(0, RUNS_PAGE)))
    await pager.more()
    expect(jobs(pager.runs.value)).toEqual(jobs([...runs].reverse()))
  })

  it('shows another bot\'s runs alone when the page moves to it, and drops a page of the last bot that arrives after', async () => {
    const tables: Record<string, RunRecord[]> = {
      news: Array.from({ length: 2 * RUNS_PAGE + 1 }, (_, minute) => run(minute)),
      art: [{ ...run(5000), job: 'bot-art-1' }],
    }
    let release = () => undefined as void
    const held = new Promise<void>((resolve) => (release = resolve))
    server = await apiServer(async (request) => {
      const bot = request.path.split('/')[3]!
      if (bot === 'news' && request.path.includes('before=') && server!.requests.filter((r) => r.path.includes('before=')).length === 2) await held
      return history(tables[bot]!)(request)
    })
    const bot = { name: 'news' }
    const pager = useRuns(() => bot.name, createApi({ baseUrl: server.url, onUnauthorized: () => undefined }))
    await pager.reload()
    await pager.more()
    const late = pager.more() // news's third page, held at the server
    while (server.requests.length < 3) await new Promise((resolve) => setTimeout(resolve, 1))

    bot.name = 'art'
    await pager.reload()
    expect(jobs(pager.runs.value)).toEqual(['bot-art-1'])
    release()
    await late
    expect(jobs(pager.runs.value)).toEqual(['bot-art-1'])
    expect(pager.cursor.value).toBeNull()
  })

  it.each([
    ['</api/bots/news/runs?limit=25&before=2026-12-01T00%3A03%3A00.000000Z%23bot-news-3>; rel="next"', '2026-12-01T00:03:00.000000Z#bot-news-3'],
    ['</api/bots/news/runs?limit=25>; rel="prev"', null],
    ['', null],
  ])('reads the cursor of %j', (link, cursor) => {
    expect(nextCursor(new Response(null, { headers: link ? { link } : {} }))).toBe(cursor)
  })
})
