/**
 * A schedule in plain words for the common shapes ("every 15 minutes", "at 09:00 on weekdays"), as an
 * i18n key and its values; null for any other shape, which the app then shows as the expression itself.
 * A small formatter instead of a library: these shapes cover what bots use, at no bundle cost.
 */
import { MACROS } from './schedule'

export interface Words {
  key: string
  values?: Record<string, string | number>
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat']
const NUMBER = /^\d+$/

/** A day-of-week field as day numbers 0-6 (7 is Sunday too), or null when it is not plain days and ranges. */
function weekdays(field: string): number[] | null {
  const day = (text: string): number => {
    const named = DAYS.indexOf(text.toLowerCase())
    return named >= 0 ? named : NUMBER.test(text) && Number(text) <= 7 ? Number(text) : NaN
  }
  const result = new Set<number>()
  for (const part of field.split(',')) {
    const [from = NaN, to, ...rest] = part.split('-').map(day)
    // A range may end on Sunday by name or as 0 ("mon-sun", "1-0"): that is day 7.
    const last = to === 0 && from !== 0 ? 7 : (to ?? from)
    if (Number.isNaN(from) || Number.isNaN(last) || rest.length || last < from) return null
    for (let value = from; value <= last; value += 1) result.add(value % 7)
  }
  return [...result].sort((a, b) => a - b)
}

// 29 November 2026 is a Sunday: the names of the days from it, in the app's language.
const dayName = (day: number): string => new Date(Date.UTC(2026, 10, 29 + day)).toLocaleString('en', { weekday: 'long', timeZone: 'UTC' })
const list = new Intl.ListFormat('en', { type: 'conjunction' })

function clock(hour: string, minute: string): string {
  return `${hour.padStart(2, '0')}:${minute.padStart(2, '0')}`
}

export function scheduleWords(schedule: string): Words | null {
  const fields = (MACROS[schedule.trim()] ?? schedule).trim().split(/\s+/)
  if (fields.length !== 5) return null
  const [minute, hour, day, month, weekday] = fields as [string, string, string, string, string]
  if (month !== '*') return null
  const step = (field: string): number | null => {
    const match = /^\*\/(\d+)$/.exec(field)
    return match ? Number(match[1]) : null
  }
  const everyDay = day === '*' && weekday === '*'
  if (everyDay && hour === '*') {
    if (minute === '*') return { key: 'schedule.everyMinute' }
    const minutes = step(minute)
    if (minutes !== null && minutes > 0 && minutes < 60) return minutes === 1 ? { key: 'schedule.everyMinute' } : { key: 'schedule.everyMinutes', values: { minutes } }
    if (NUMBER.test(minute) && Number(minute) < 60) return Number(minute) === 0 ? { key: 'schedule.everyHour' } : { key: 'schedule.everyHourAt', values: { minute: Number(minute) } }
    return null
  }
  if (!NUMBER.test(minute) || Number(minute) > 59) return null
  const hours = step(hour)
  if (everyDay && hours !== null && hours > 0 && hours < 24) {
    return hours === 1 ? { key: 'schedule.everyHourAt', values: { minute: Number(minute) } } : { key: 'schedule.everyHours', values: { hours, minute: Number(minute) } }
  }
  if (!NUMBER.test(hour) || Number(hour) > 23) return null
  const time = clock(hour, minute)
  if (everyDay) return { key: 'schedule.daily', values: { time } }
  if (weekday === '*') return NUMBER.test(day) && Number(day) >= 1 && Number(day) <= 31 ? { key: 'schedule.monthly', values: { time, day: Number(day) } } : null
  if (day !== '*') return null
  const days = weekdays(weekday)
  if (days === null) return null
  if (days.join() === '1,2,3,4,5') return { key: 'schedule.weekdays', values: { time } }
  if (days.join() === '0,6') return { key: 'schedule.weekends', values: { time } }
  if (days.length === 7) return { key: 'schedule.daily', values: { time } }
  return { key: 'schedule.onDays', values: { time, days: list.format(days.map(dayName)) } }
}
