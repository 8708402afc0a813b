/**
 * When a bot runs next: its cron schedule (the five fields the API accepts, macros, names) read in
 * its time zone. The API has validated the schedule; what this cannot read gives no next run.
 */
import { DateTime } from 'luxon'

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
  const dayMatches = (moment: DateTime): boolean => {
    const byDay = days!.has(moment.day)
    const byWeekday = weekdays!.has(moment.weekday % 7)
    return anyDay ? byWeekday : anyWeekday ? byDay : byDay || byWeekday
  }
  const zone = timeZone || 'UTC'
  let moment = DateTime.fromJSDate(after, { zone }).startOf('minute').plus({ minutes: 1 })
  if (!moment.isValid) return []
  const runs: Date[] = []
  const limit = moment.plus({ years: 5 })
  while (runs.length < count && moment < limit) {
    if (!months!.has(moment.month)) moment = moment.startOf('month').plus({ months: 1 })
    else if (!dayMatches(moment)) moment = moment.startOf('day').plus({ days: 1 })
    // To the next hour by adding minutes: the start of an hour a DST change repeats or cuts into (Lord
    // Howe's half hour) can lie before `moment`, and going back there would loop for ever.
    else if (!hours!.has(moment.hour)) moment = moment.plus({ minutes: 60 - moment.minute })
    else if (!minutes!.has(moment.minute)) moment = moment.plus({ minutes: 1 })
    else {
      runs.push(moment.toJSDate())
      moment = moment.plus({ minutes: 1 })
    }
  }
  return runs
}
