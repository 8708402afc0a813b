import { describe, expect, it } from 'vitest'
import { nextRuns } from '@/lib/schedule'
import ScheduleSummary from '@/components/ScheduleSummary.vue'
import { mountInApp } from './mount'

const NOW = new Date('2026-12-04T10:07:30Z') // a Friday

function summary(schedule: string, timeZone: string | null = null, suspend = false) {
  return mountInApp(ScheduleSummary, { schedule, timeZone, suspend, now: NOW })
}

describe('a schedule in plain words', () => {
  it.each([
    ['* * * * *', 'Runs every minute.'],
    ['*/1 * * * *', 'Runs every minute.'],
    ['*/15 * * * *', 'Runs every 15 minutes.'],
    ['0 * * * *', 'Runs every hour.'],
    ['@hourly', 'Runs every hour.'],
    ['30 * * * *', 'Runs every hour at 30 past.'],
    ['5 */6 * * *', 'Runs every 6 hours at 5 past.'],
    ['0 9 * * *', 'Runs at 09:00 every day.'],
    ['@daily', 'Runs at 00:00 every day.'],
    ['0 9 * * mon-fri', 'Runs at 09:00 on weekdays.'],
    ['30 9 * * 1-5', 'Runs at 09:30 on weekdays.'],
    ['0 18 * * sat,sun', 'Runs at 18:00 on weekends.'],
    ['0 18 * * 6,0', 'Runs at 18:00 on weekends.'],
    ['0 8 * * 1,3', 'Runs at 08:00 on Monday and Wednesday.'],
    ['0 8 * * 7', 'Runs at 08:00 on Sunday.'],
    ['0 8 * * mon-sun', 'Runs at 08:00 every day.'],
    ['0 0 * * 0', 'Runs at 00:00 on Sunday.'],
    ['@weekly', 'Runs at 00:00 on Sunday.'],
    ['15 7 1 * *', 'Runs at 07:15 on day 1 of the month.'],
  ])('%s → %s', (schedule, words) => {
    expect(summary(schedule).find('[data-test="schedule-words"]').text()).toBe(words)
  })

  it.each(['0 0 1 1 *', '@yearly', '1,31 * * * *', '0 9-17 * * *', '0 9 1 * mon', '0 9 * * mon/2', 'every now and then', '61 * * * *'])(
    'a shape it does not read, %s, is shown as the expression itself',
    (schedule) => {
      expect(summary(schedule).find('[data-test="schedule-words"]').text()).toBe(`Runs on the schedule ${schedule}.`)
    },
  )
})

describe('the next three runs', () => {
  const runs = (schedule: string, timeZone: string | null, suspend = false) =>
    summary(schedule, timeZone, suspend).findAll('[data-test="next-runs"] li').map((item) => item.text())

  it('are told in the bot\'s time zone, and say which', () => {
    const shown = summary('0 9 * * mon-fri', 'Europe/Berlin')
    expect(shown.text()).toContain('Next runs (Europe/Berlin):')
    expect(runs('0 9 * * mon-fri', 'Europe/Berlin')).toEqual(['Dec 7, 2026, 9:00 AM', 'Dec 8, 2026, 9:00 AM', 'Dec 9, 2026, 9:00 AM'])
  })

  it('are in UTC for a bot without a time zone', () => {
    expect(summary('*/15 * * * *').text()).toContain('Next runs (UTC):')
    expect(runs('*/15 * * * *', null)).toEqual(['Dec 4, 2026, 10:15 AM', 'Dec 4, 2026, 10:30 AM', 'Dec 4, 2026, 10:45 AM'])
  })

  it('are none for a paused bot, which says so, and none for a schedule that never comes', () => {
    expect(runs('*/15 * * * *', null, true)).toEqual([])
    expect(summary('*/15 * * * *', null, true).text()).toContain('Paused: it does not run until resumed.')
    expect(summary('0 0 31 2 *').text()).toContain('This schedule has no next run.')
  })
})

describe('the next runs across odd daylight saving changes', () => {
  const local = (runs: Date[], timeZone: string) =>
    runs.map((run) => run.toLocaleString('sv-SE', { timeZone, dateStyle: 'short', timeStyle: 'short' }))

  it.each([
    // Lord Howe turns 02:00 back to 01:30 on 5 April 2026, so 01:00 comes once and 01:30 twice: going to
    // the start of the hour from the second 01:30 went back before it, and the page hung.
    ['0 3 * * *', 'Australia/Lord_Howe', '2026-04-04T10:00:00Z', ['2026-04-05 03:00', '2026-04-06 03:00', '2026-04-07 03:00']],
    ['45 0,2 * * *', 'Australia/Lord_Howe', '2026-04-04T10:00:00Z', ['2026-04-05 00:45', '2026-04-05 02:45', '2026-04-06 00:45']],
    // Gaza turns 02:00 back to 01:00 on 24 October 2026; Santiago the midnight after 4 April back to 23:00.
    ['0 5 * * *', 'Asia/Gaza', '2026-10-23T18:00:00Z', ['2026-10-24 05:00', '2026-10-25 05:00', '2026-10-26 05:00']],
    ['30 3 * * *', 'America/Santiago', '2026-04-04T00:00:00Z', ['2026-04-04 03:30', '2026-04-05 03:30', '2026-04-06 03:30']],
  ])('%s in %s after %s', (schedule, timeZone, after, expected) => {
    expect(local(nextRuns(schedule, timeZone, new Date(after), 3), timeZone)).toEqual(expected)
  })

  it('skip the times a change cuts out: Lord Howe has no 02:00 on 4 October 2026, Santiago no midnight on 6 September', () => {
    expect(local(nextRuns('0 2 * * *', 'Australia/Lord_Howe', new Date('2026-10-03T10:00:00Z'), 2), 'Australia/Lord_Howe')).toEqual([
      '2026-10-05 02:00',
      '2026-10-06 02:00',
    ])
    expect(local(nextRuns('15 * * * *', 'Australia/Lord_Howe', new Date('2026-10-03T14:00:00Z'), 3), 'Australia/Lord_Howe')).toEqual([
      '2026-10-04 01:15',
      '2026-10-04 03:15',
      '2026-10-04 04:15',
    ])
    expect(local(nextRuns('0 0 * * *', 'America/Santiago', new Date('2026-09-05T12:00:00Z'), 1), 'America/Santiago')).toEqual(['2026-09-07 00:00'])
  })
})
