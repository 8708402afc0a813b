/**
 * When a bot runs next: its cron schedule (the five fields the API accepts, macros, names) read in
 * its time zone. The API has validated the schedule; what this cannot read gives no next run.
 * Wall-clock times come from the browser's Intl API (no date library on the first route): minutes
 * and hours step in absolute time, days and months on the calendar, as cron does across DST.
 */

export const MACROS: Record<string, string> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
}
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec']
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
// minute, hour, day of month, month, day of week: [lowest, highest, names from lowest]
const FIELDS: [number, number, string[]][] = [[0, 59, []], [0, 23, []], [1, 31, []], [1, 12, MONTHS], [0, 7, DAYS]]

function values(field: string, [low, high, names]: [number, number, string[]]): Set<number> | null {
  const result = new Set<number>()
  const number = (text: string): number => {
    const named = names.indexOf(text.toLowerCase())
    return named >= 0 ? named + low : /^\d+$/.test(text) ? Number(text) : NaN
  }
  for (const part of field.split(',')) {
    const [range = '', stepText] = part.split('/')
    const step = stepText === undefined ? 1 : Number(stepText)
    const [from, last] = range === '*' || range === '?' ? [low, high] : range.split('-').map(number)
    if (from === undefined || Number.isNaN(from)) return null
    const to = last ?? (stepText === undefined ? from : high)
    if (Number.isNaN(to) || !(step > 0) || from < low || to > high || from > to) return null
    for (let value = from; value <= to; value += step) result.add(value)
  }
  return result
}

/** The five fields of a schedule (a macro spelled out), or null when one is not a field this reads. */
function cronFields(schedule: string): string[] | null {
  const fields = (MACROS[schedule.trim()] ?? schedule).trim().split(/\s+/)
  return fields.length === 5 && fields.every((field, i) => values(field, FIELDS[i]!) !== null) ? fields : null
}

/** Whether every field of the schedule is one cron reads (values in range, ranges in order, steps above 0). */
export const readsCron = (schedule: string): boolean => cronFields(schedule) !== null

/** A moment's wall clock in a time zone, and that zone's offset from UTC then (minutes). */
interface Wall {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  weekday: number
  offset: number
}

function clock(zone: string): (instant: number) => Wall {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
  })
  return (instant) => {
    const part: Record<string, number> = {}
    for (const { type, value } of format.formatToParts(instant)) part[type] = Number(value)
    const [year, month, day, hour, minute] = [part.year!, part.month!, part.day!, part.hour!, part.minute!]
    const local = Date.UTC(year, month - 1, day, hour, minute)
    return { year, month, day, hour, minute, weekday: new Date(local).getUTCDay(), offset: Math.round((local - Math.floor(instant / 60_000) * 60_000) / 60_000) }
  }
}

/** The instant of a wall-clock time (a day's or a month's first minute): a time in a DST gap moves forward. */
function instantOf(wall: (instant: number) => Wall, local: number, offset: number): number {
  let guess = local - offset * 60_000
  const second = wall(guess).offset
  if (second === offset) return guess
  guess -= (second - offset) * 60_000
  const third = wall(guess).offset
  return second === third ? guess : local - Math.min(second, third) * 60_000
}

/** The next `count` run times after `after`, or [] when the schedule is not one this reads. */
export function nextRuns(schedule: string, timeZone: string | null | undefined, after: Date, count = 1): Date[] {
  const fields = cronFields(schedule)
  if (fields === null) return []
  const sets = fields.map((field, i) => values(field, FIELDS[i]!))
  const [minutes, hours, days, months, weekdays] = sets as Set<number>[]
  if (weekdays!.has(7)) weekdays!.add(0)
  // Cron's rule: when both day fields are restricted, a day matching either one runs.
  const anyDay = fields[2] === '*' || fields[2] === '?'
  const anyWeekday = fields[4] === '*' || fields[4] === '?'
  const dayMatches = (moment: Wall): boolean => {
    const byDay = days!.has(moment.day)
    const byWeekday = weekdays!.has(moment.weekday)
    return anyDay ? byWeekday : anyWeekday ? byDay : byDay || byWeekday
  }
  let wall: (instant: number) => Wall
  try {
    wall = clock(timeZone || 'UTC')
  } catch {
    return [] // a time zone this browser does not know
  }
  if (Number.isNaN(after.getTime())) return []
  let instant = Math.floor(after.getTime() / 60_000) * 60_000 + 60_000
  const runs: Date[] = []
  const limit = instant + 5 * 366 * 86_400_000
  while (runs.length < count && instant < limit) {
    const moment = wall(instant)
    if (!months!.has(moment.month)) instant = instantOf(wall, Date.UTC(moment.year, moment.month, 1), moment.offset)
    else if (!dayMatches(moment)) instant = instantOf(wall, Date.UTC(moment.year, moment.month - 1, moment.day + 1), moment.offset)
    // To the next hour by adding minutes: the start of an hour a DST change repeats or cuts into (Lord
    // Howe's half hour) can lie before `instant`, and going back there would loop for ever.
    else if (!hours!.has(moment.hour)) instant += (60 - moment.minute) * 60_000
    else if (!minutes!.has(moment.minute)) instant += 60_000
    else {
      runs.push(new Date(instant))
      instant += 60_000
    }
  }
  return runs
}
