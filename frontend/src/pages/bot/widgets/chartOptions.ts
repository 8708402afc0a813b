/**
 * What the bot page's charts share: the chart.js parts they use (registered once, no others), the
 * time axis over the stats' whole range, the big total in the top-left corner, and the marks of
 * buckets with failed (a box) or rate-limited runs (a dashed line), told in the tooltip too.
 */
import {
  Chart,
  Filler,
  Legend,
  LinearScale,
  LineController,
  LineElement,
  PointElement,
  Tooltip,
  type ChartOptions,
  type TooltipItem,
} from 'chart.js'
import annotation, { type AnnotationOptions } from 'chartjs-plugin-annotation'
import gradient from 'chartjs-plugin-gradient'
import { TimestackScale } from 'chartjs-scale-timestack'
import { computed } from 'vue'
import { useI18n } from 'petite-vue-i18n'
import { useColors } from 'vuestic-ui'
import type { Bucket, Stats } from '@/api/client'
import { i18n } from '@/i18n'
import { reasonWords } from '@/lib/reasons'
import { marks, OTHER_REASONS, span } from './chartData'
import 'words:bot'

Chart.register(LineController, LineElement, PointElement, LinearScale, Filler, Tooltip, Legend, TimestackScale, gradient, annotation)

/** The colours the shared parts draw in (from the Vuestic theme, so they follow the dark one). */
export interface ChartLook {
  text: string
  muted: string
  backdrop: string
  failed: string
  rateLimited: string
}

/** The words the shared parts say: a bucket's time span, and its failed and rate-limited runs. */
export interface ChartWords {
  bucket: (start: number, end: number) => string
  marks: (bucket: Bucket) => string[]
}

export interface ChartOverlay {
  total: number
  caption: string
}

/** A series of the rejections chart in words: its reason's, or the rest's. */
export function reasonLabel(reason: string): string {
  return reason === OTHER_REASONS ? i18n.global.t('bot.activity.otherReasons') : reasonWords(reason)
}

/** The y axis: four round steps up to a top with room above `highest` for the total in the corner. */
export function headroom(highest: number): { max: number; stepSize: number } {
  const wanted = Math.max(4, highest * 1.6) / 4
  const magnitude = 10 ** Math.floor(Math.log10(wanted))
  const factors = magnitude >= 10 ? [1, 2, 2.5, 5, 10] : [1, 2, 5, 10]
  const stepSize = (factors.find((factor) => factor * magnitude >= wanted) ?? 10) * magnitude
  return { max: 4 * stepSize, stepSize }
}

function markAnnotations(stats: Stats, look: ChartLook): Record<string, AnnotationOptions> {
  return Object.fromEntries(
    marks(stats).map((mark): [string, AnnotationOptions] => [
      `${mark.kind}-${mark.start}`,
      mark.kind === 'failed'
        ? { type: 'box', xMin: mark.start, xMax: mark.end, backgroundColor: look.failed, borderWidth: 0, drawTime: 'beforeDatasetsDraw' }
        : { type: 'line', scaleID: 'x', value: mark.middle, borderColor: look.rateLimited, borderWidth: 2, borderDash: [4, 3], drawTime: 'beforeDatasetsDraw' },
    ]),
  )
}

export function chartOptions(
  stats: Stats,
  { overlay, highest, look, words, stacked = false }: { overlay: ChartOverlay; highest: number; look: ChartLook; words: ChartWords; stacked?: boolean },
): ChartOptions<'line'> {
  const { min, max } = span(stats)
  const { max: top, stepSize } = headroom(highest)
  const bucketOf = (items: TooltipItem<'line'>[]) => stats.buckets[items[0]?.dataIndex ?? -1]
  return {
    responsive: true,
    maintainAspectRatio: false,
    animation: false,
    interaction: { mode: 'index', intersect: false },
    scales: {
      x: { type: 'timestack', min, max, grid: { display: false }, ticks: { color: look.muted } },
      y: { stacked, beginAtZero: true, max: top, ticks: { stepSize, color: look.muted } },
    },
    plugins: {
      legend: { display: stacked, position: 'bottom', labels: { boxWidth: 12, color: look.muted } },
      tooltip: {
        callbacks: {
          title: (items) => {
            const bucket = bucketOf(items)
            const start = bucket ? Date.parse(bucket.start) : min
            return words.bucket(start, start + stats.bucketSeconds * 1000)
          },
          footer: (items) => {
            const bucket = bucketOf(items)
            return bucket ? words.marks(bucket) : []
          },
        },
      },
      annotation: {
        annotations: {
          ...markAnnotations(stats, look),
          total: {
            type: 'label',
            xValue: min,
            yValue: top,
            position: { x: 'start', y: 'start' },
            content: [overlay.total.toLocaleString('en'), overlay.caption],
            color: look.text,
            backgroundColor: look.backdrop,
            textAlign: 'start',
            font: [{ size: 26, weight: 'bold', lineHeight: 1.1 }, { size: 12 }],
            padding: 6,
          },
        },
      },
    },
  }
}

/** The look and the words of the shared parts, from the theme and the locale. */
export function useChartLook() {
  const { t } = useI18n()
  const colors = useColors()
  const { getColor, setHSLAColor } = colors
  const look = computed<ChartLook>(() => ({
    text: getColor('textPrimary'),
    muted: getColor('secondary'),
    backdrop: setHSLAColor(getColor('backgroundSecondary'), { a: 0.85 }),
    failed: setHSLAColor(getColor('danger'), { a: 0.18 }),
    rateLimited: getColor('warning'),
  }))
  const words: ChartWords = {
    bucket: (start, end) => new Intl.DateTimeFormat('en', { month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit' }).formatRange(start, end),
    marks: (bucket) => [
      ...(bucket.failedRuns ? [t('bot.activity.marks.failedRuns', bucket.failedRuns)] : []),
      ...(bucket.rateLimitedRuns ? [t('bot.activity.marks.rateLimitedRuns', bucket.rateLimitedRuns)] : []),
    ],
  }
  return { look, words, colors, t }
}
