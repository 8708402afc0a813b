/** Times for people: relative for the recent past and near future, in the browser's locale. */
const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' })
const UNITS: [Intl.RelativeTimeFormatUnit, number][] = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1000],
]

export function fromNow(moment: Date | string, now: Date = new Date()): string {
  const difference = new Date(moment).getTime() - now.getTime()
  for (const [unit, size] of UNITS) {
    if (Math.abs(difference) >= size || unit === 'second') return relative.format(Math.round(difference / size), unit)
  }
  return ''
}

/** A moment as a date and a time of day: in `timeZone` when given (a bot's), else the browser's. */
export function dateTime(moment: Date | string, timeZone?: string): string {
  return new Date(moment).toLocaleString('en', { dateStyle: 'medium', timeStyle: 'short', timeZone })
}
