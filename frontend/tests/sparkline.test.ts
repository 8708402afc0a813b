import { describe, expect, it } from 'vitest'
import RepostsSparkline from '@/pages/overview/widgets/RepostsSparkline.vue'
import { mountInApp } from './mount'

/** The line's points as numbers: [x, y] from the oldest hour to the newest. */
function pointsOf(hourly: number[]): number[][] {
  const line = mountInApp(RepostsSparkline, { hourly }).find('polyline').attributes('points') ?? ''
  return line.split(' ').map((point) => point.split(',').map(Number))
}

describe('the overview\'s sparkline of a bot\'s reposts', () => {
  it('draws an hour a point, oldest on the left, the busiest hour at the top and none at the bottom', () => {
    const points = pointsOf([0, 2, 4, 1])
    expect(points.map(([x]) => x)).toEqual([0, 32, 64, 96])
    const [none, some, most] = [points[0]![1]!, points[1]![1]!, points[2]![1]!]
    expect(most).toBe(2) // the top, less the line's width
    expect(none).toBe(22) // the bottom, likewise
    expect(some).toBe(12) // half of the busiest hour, half way
  })

  it('draws a day without reposts as a flat line at the bottom', () => {
    expect(new Set(pointsOf(Array(24).fill(0)).map(([, y]) => y))).toEqual(new Set([22]))
  })

  it('says in words what it shows', () => {
    const svg = mountInApp(RepostsSparkline, { hourly: [1, 0, 2] }).find('svg')
    expect(svg.attributes('role')).toBe('img')
    expect(svg.attributes('aria-label')).toBe('3 reposts in the last 3 hours, an hour a point')
  })
})
