/**
 * A bot's runs, newest first, a page at a time: `reload` reads the first page again (what polling
 * calls when a run ends) and keeps the older pages already shown; `more` reads the next one
 * through the cursor the last page's Link header gave. An answer about a bot the page has left is dropped.
 */
import { ref } from 'vue'
import { api as defaultApi } from '@/api'
import { data, nextCursor, type Api, type RunRecord } from '@/api/client'

export const RUNS_PAGE = 25

/** Runs order by start, then Job, as the API's cursor does. */
function before(a: RunRecord, b: RunRecord): boolean {
  const [x, y] = [Date.parse(a.startedAt), Date.parse(b.startedAt)]
  return x < y || (x === y && a.job < b.job)
}

export function useRuns(name: () => string, api: Api = defaultApi) {
  const runs = ref<RunRecord[]>([])
  const cursor = ref<string | null>(null)
  const loadingMore = ref(false)
  let shownFor = '' // the bot whose runs these are: the page may move to another bot
  let pages = 0

  async function page(bot: string, from: string | null): Promise<{ runs: RunRecord[]; next: string | null }> {
    const query = { limit: RUNS_PAGE, ...(from ? { before: from } : {}) }
    const answer = api.GET('/api/bots/{name}/runs', { params: { path: { name: bot }, query } })
    const runs = await data(answer)
    return { runs, next: nextCursor((await answer).response) }
  }

  async function reload(): Promise<void> {
    const bot = name()
    const first = await page(bot, null)
    if (bot !== name()) return // the page moved on meanwhile
    const last = first.runs.at(-1)
    if (bot === shownFor && pages > 1 && last) {
      const shown = new Set(first.runs.map((run) => run.job))
      runs.value = [...first.runs, ...runs.value.filter((run) => !shown.has(run.job) && before(run, last))]
    } else {
      runs.value = first.runs
      cursor.value = first.next
      shownFor = bot
      pages = 1
    }
  }

  async function more(): Promise<void> {
    const bot = shownFor
    if (!cursor.value || loadingMore.value || bot !== name()) return
    loadingMore.value = true
    try {
      const next = await page(bot, cursor.value)
      if (bot !== shownFor || bot !== name()) return // another bot's runs are shown now
      const shown = new Set(runs.value.map((run) => run.job))
      runs.value = [...runs.value, ...next.runs.filter((run) => !shown.has(run.job))]
      cursor.value = next.next
      pages += 1
    } finally {
      loadingMore.value = false
    }
  }

  return { runs, cursor, loadingMore, reload, more }
}
