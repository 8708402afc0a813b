// chartjs-scale-timestack augments chart.js's ScaleTypeRegistry, which a line chart's x scale does not read.
import type { TimestackScaleOptions } from 'chartjs-scale-timestack'

declare module 'chart.js' {
  interface CartesianScaleTypeRegistry {
    timestack: { options: TimestackScaleOptions }
  }
}
