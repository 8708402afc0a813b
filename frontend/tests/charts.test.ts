import { describe, expect, it, vi } from 'vitest'
import { defineComponent, h } from 'vue'
import type { Bucket, Stats } from '@/api/client'
import ActivityCharts from '@/pages/bot/widgets/ActivityCharts.vue'
import { marks, rejectedTotal, rejections, series, total } from '@/pages/bot/widgets/chartData'
import { chartOptions, headroom, type ChartLook, type ChartWords } from '@/pages/bot/widgets/chartOptions'
import { mountInApp } from './mount'

// jsdom has no canvas: the chart component is a canvas that keeps what it was given, to read back.
vi.mock('vue-chartjs', () => ({
  Line: defineComponent({
    props: { data: { type: Object, required: true }, options: { type: Object, required: true } },
    setup: (props, { attrs }) => () => h('canvas', { ...attrs, 'data-datasets': JSON.stringify(props.data.datasets.map((set: { label: string }) => set.label)) }),
  }),
}))

const HOUR = 3_600_000
const START = Date.parse('2026-12-01T00:00:00Z')

/** 24 hourly buckets, empty but for the ones given by index. */
function stats(filled: Record<number, Partial<Bucket>>, range: Stats['range'] = '24h'): Stats {
  return {
    range,
    bucketSeconds: 3600,
    buckets: Array.from({ length: 24 }, (_, i) => ({
      start: new Date(START + i * HOUR).toISOString(),
      runs: 0,
      failedRuns: 0,
      rateLimitedRuns: 0,
      candidates: 0,
      reposted: 0,
      duplicates: 0,
      rejected: {},
      ...filled[i],
    })),
  }
}

const DAY = stats({
  2: { runs: 2, candidates: 10, reposted: 4, rejected: { language: 3, reply: 1 } },
  5: { runs: 1, failedRuns: 1 },
  9: { runs: 3, rateLimitedRuns: 2, failedRuns: 1, candidates: 5, reposted: 1, rejected: { too_old: 2, language: 1 } },
})

const LOOK: ChartLook = { text: 'black', muted: 'grey', backdrop: 'white', failed: 'red', rateLimited: 'orange' }
const WORDS: ChartWords = { bucket: (start, end) => `${start}-${end}`, marks: (bucket) => [`${bucket.failedRuns} failed`, `${bucket.rateLimitedRuns} limited`] }

describe('the chart data', () => {
  it('puts each bucket at its middle and sums it', () => {
    const reposts = series(DAY, 'reposted')
    expect(reposts).toHaveLength(24)
    expect(reposts[2]).toEqual({ x: START + 2.5 * HOUR, y: 4 })
    expect(reposts[9]).toEqual({ x: START + 9.5 * HOUR, y: 1 })
    expect([total(DAY, 'reposted'), total(DAY, 'candidates'), rejectedTotal(DAY)]).toEqual([5, 15, 7])
  })

  it('stacks the rejections by reason, the most frequent at the bottom, each with its own counts', () => {
    const stacked = rejections(DAY)
    expect(stacked.map((reason) => [reason.reason, reason.total])).toEqual([
      ['language', 4],
      ['too_old', 2],
      ['reply', 1],
    ])
    expect(stacked[0]!.points.filter((point) => point.y).map((point) => [point.x, point.y])).toEqual([
      [START + 2.5 * HOUR, 3],
      [START + 9.5 * HOUR, 1],
    ])
    expect(stacked[2]!.points.map((point) => point.y).reduce((a, b) => a + b)).toBe(1)
  })

  it('names the five most frequent reasons past six and sums the rest as other', () => {
    const many = stats({ 0: { rejected: { a: 9, b: 8, c: 7, d: 6, e: 5, f: 1, g: 2 } }, 1: { rejected: { f: 3 } } })
    expect(rejections(many).map((reason) => [reason.reason, reason.total])).toEqual([
      ['a', 9],
      ['b', 8],
      ['c', 7],
      ['d', 6],
      ['e', 5],
      ['*', 6],
    ])
    expect(rejections(many).at(-1)!.points.slice(0, 2).map((point) => point.y)).toEqual([3, 3])
    const six = stats({ 0: { rejected: { a: 6, b: 5, c: 4, d: 3, e: 2, f: 1 } } })
    expect(rejections(six).map((reason) => reason.reason)).toEqual(['a', 'b', 'c', 'd', 'e', 'f'])
  })

  it('marks each bucket with failed runs, and each with rate-limited runs, over its own hour', () => {
    expect(marks(DAY)).toEqual([
      { kind: 'failed', runs: 1, start: START + 5 * HOUR, end: START + 6 * HOUR, middle: START + 5.5 * HOUR },
      { kind: 'failed', runs: 1, start: START + 9 * HOUR, end: START + 10 * HOUR, middle: START + 9.5 * HOUR },
      { kind: 'rateLimited', runs: 2, start: START + 9 * HOUR, end: START + 10 * HOUR, middle: START + 9.5 * HOUR },
    ])
    expect(marks(stats({ 3: { runs: 4, candidates: 8 } }))).toEqual([])
  })
})

describe('the shared chart options', () => {
  const options = chartOptions(DAY, { overlay: { total: 1234, caption: 'reposts' }, highest: 4, look: LOOK, words: WORDS })
  const annotations = options.plugins!.annotation!.annotations as Record<string, Record<string, unknown>>

  it('draws a box over a failed bucket and a line through a rate-limited one', () => {
    expect(annotations[`failed-${START + 5 * HOUR}`]).toMatchObject({ type: 'box', xMin: START + 5 * HOUR, xMax: START + 6 * HOUR, backgroundColor: 'red' })
    expect(annotations[`failed-${START + 9 * HOUR}`]).toMatchObject({ type: 'box', xMin: START + 9 * HOUR, xMax: START + 10 * HOUR })
    expect(annotations[`rateLimited-${START + 9 * HOUR}`]).toMatchObject({ type: 'line', scaleID: 'x', value: START + 9.5 * HOUR, borderColor: 'orange' })
    expect(Object.keys(annotations).sort()).toEqual([`failed-${START + 5 * HOUR}`, `failed-${START + 9 * HOUR}`, `rateLimited-${START + 9 * HOUR}`, 'total'].sort())
  })

  it('puts the total in big figures in the top-left corner, above the highest value', () => {
    const y = options.scales!.y as { max: number; ticks: { stepSize: number } }
    expect(annotations.total).toMatchObject({ type: 'label', xValue: START, yValue: y.max, position: { x: 'start', y: 'start' }, content: ['1,234', 'reposts'] })
    expect([y.max, y.ticks.stepSize]).toEqual([8, 2])
    expect(options.scales!.x).toMatchObject({ type: 'timestack', min: START, max: START + 24 * HOUR })
  })

  it('says in the tooltip which bucket it is and what failed in it', () => {
    const tooltip = options.plugins!.tooltip!.callbacks!
    const at = (dataIndex: number) => [{ dataIndex }] as never
    expect((tooltip.title as (items: never) => string)(at(9))).toBe(`${START + 9 * HOUR}-${START + 10 * HOUR}`)
    expect((tooltip.footer as (items: never) => string[])(at(9))).toEqual(['1 failed', '2 limited'])
  })

  it.each([
    [0, 4, 1],
    [2, 4, 1],
    [3, 8, 2],
    [7, 20, 5],
    [40, 80, 20],
    [60, 100, 25],
    [1000, 2000, 500],
  ])('leaves room above %i: the axis goes to %i in steps of %i', (highest, max, stepSize) => {
    expect(headroom(highest)).toEqual({ max, stepSize })
  })
})

describe('the activity charts', () => {
  it('give each chart a text alternative and the totals as a table, reasons and marks in words', async () => {
    const charts = mountInApp(ActivityCharts, { stats: DAY })
    const label = (test: string) => charts.find(`[data-test="${test}"] canvas`).attributes('aria-label')
    expect(label('chart-reposted')).toBe('5 reposts in the last 24 hours')
    expect(label('chart-candidates')).toBe('15 candidates in the last 24 hours')
    expect(label('chart-rejected')).toBe("7 candidates rejected in the last 24 hours: Not in one of the bot's languages: 4, Older than the bot's maximum age: 2, A reply: 1")
    expect(JSON.parse(charts.find('[data-test="chart-rejected"] canvas').attributes('data-datasets')!)).toEqual(["Not in one of the bot's languages", "Older than the bot's maximum age", 'A reply'])
    const rows = charts.findAll('[data-test="activity-totals"] tbody tr').map((row) => row.text())
    expect(rows).toEqual(['Reposts5', 'Candidates15', "Rejected: Not in one of the bot's languages4", "Rejected: Older than the bot's maximum age2", 'Rejected: A reply1', 'Failed runs2', 'Rate-limited runs2'])
    expect(charts.findAll('[data-test="marks-legend"] > span').map((part) => part.text())).toEqual(['Marked on the time axis:', 'runs failed', 'runs stopped by a rate limit'])

    await charts.setProps({ stats: stats({ 1: { runs: 1, candidates: 1 } }, '7d') })
    expect(label('chart-reposted')).toBe('No reposts in the last 7 days')
    expect(label('chart-candidates')).toBe('One candidate in the last 7 days')
    expect(charts.find('[data-test="marks-legend"]').exists()).toBe(false)
  })

  it('says a reason this app does not know yet as the API named it', () => {
    const charts = mountInApp(ActivityCharts, { stats: stats({ 0: { rejected: { shiny_new: 2 } } }) })
    expect(charts.find('[data-test="chart-rejected"] canvas').attributes('aria-label')).toBe('2 candidates rejected in the last 24 hours: shiny_new: 2')
  })
})
