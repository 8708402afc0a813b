/**
 * The bot page's charts from GET /api/bots/{name}/stats, as numbers: a count per bucket, its total,
 * the rejections stacked by reason, and the buckets to mark for failed or rate-limited runs. No
 * colours and no words here, so the mapping is tested on its own.
 */
import type { Bucket, Stats } from '@/api/client'

export interface Point {
  x: number
  y: number
}

export type Count = 'reposted' | 'candidates'

/** The reasons the rejections chart names one by one; the rest are summed as OTHER_REASONS. */
export const MOST_REASONS = 6
export const OTHER_REASONS = '*' // no reason the reposter reports

/** Where a bucket's point sits on the time axis: its middle, so its mark spans it on both sides. */
function middle(stats: Stats, bucket: Bucket): number {
  return Date.parse(bucket.start) + (stats.bucketSeconds * 1000) / 2
}

/** The first bucket's start and the last one's end: every chart of the page spans the same time. */
export function span(stats: Stats): { min: number; max: number } {
  const first = stats.buckets[0]
  const min = first ? Date.parse(first.start) : Date.now()
  return { min, max: min + stats.buckets.length * stats.bucketSeconds * 1000 }
}

function points(stats: Stats, value: (bucket: Bucket) => number): Point[] {
  return stats.buckets.map((bucket) => ({ x: middle(stats, bucket), y: value(bucket) }))
}

export function series(stats: Stats, count: Count): Point[] {
  return points(stats, (bucket) => bucket[count] ?? 0)
}

export function total(stats: Stats, count: Count): number {
  return stats.buckets.reduce((sum, bucket) => sum + (bucket[count] ?? 0), 0)
}

export interface ReasonSeries {
  /** A reason as the reposter reports it (`language`, `too_old`, ...), or OTHER_REASONS. */
  reason: string
  total: number
  points: Point[]
}

/** The rejections by reason, the most frequent first (bottom of the stack); past MOST_REASONS, one "other". */
export function rejections(stats: Stats, most = MOST_REASONS): ReasonSeries[] {
  const totals = new Map<string, number>()
  for (const bucket of stats.buckets) {
    for (const [reason, count] of Object.entries(bucket.rejected ?? {})) totals.set(reason, (totals.get(reason) ?? 0) + count)
  }
  const ranked = [...totals].filter(([, count]) => count > 0).sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
  const named = ranked.length > most ? ranked.slice(0, most - 1) : ranked
  const others = ranked.slice(named.length).map(([reason]) => reason)
  const reasons = named.map(([reason, count]) => ({
    reason,
    total: count,
    points: points(stats, (bucket) => bucket.rejected?.[reason] ?? 0),
  }))
  if (others.length === 0) return reasons
  const summed = (bucket: Bucket) => others.reduce((sum, reason) => sum + (bucket.rejected?.[reason] ?? 0), 0)
  const rest = points(stats, summed)
  return [...reasons, { reason: OTHER_REASONS, total: rest.reduce((sum, point) => sum + point.y, 0), points: rest }]
}

export function rejectedTotal(stats: Stats): number {
  return stats.buckets.reduce((sum, bucket) => sum + Object.values(bucket.rejected ?? {}).reduce((a, b) => a + b, 0), 0)
}

export type MarkKind = 'failed' | 'rateLimited'

/** A bucket that had failed or rate-limited runs, over the span of time it covers. */
export interface Mark {
  kind: MarkKind
  start: number
  end: number
  middle: number
  runs: number
}

export function marks(stats: Stats): Mark[] {
  const width = stats.bucketSeconds * 1000
  return stats.buckets.flatMap((bucket) => {
    const start = Date.parse(bucket.start)
    const at = { start, end: start + width, middle: start + width / 2 }
    const found: Mark[] = []
    if (bucket.failedRuns) found.push({ kind: 'failed', runs: bucket.failedRuns, ...at })
    if (bucket.rateLimitedRuns) found.push({ kind: 'rateLimited', runs: bucket.rateLimitedRuns, ...at })
    return found
  })
}

export function markedRuns(stats: Stats, kind: MarkKind): number {
  return marks(stats)
    .filter((mark) => mark.kind === kind)
    .reduce((sum, mark) => sum + mark.runs, 0)
}
