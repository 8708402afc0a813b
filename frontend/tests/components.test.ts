import { describe, expect, it } from 'vitest'
import type { BotView, Condition } from '@/api/client'
import StateBadge from '@/components/StateBadge.vue'
import { nextRuns } from '@/lib/schedule'
import ConditionsList from '@/pages/bot/widgets/ConditionsList.vue'
import { mountInApp } from './mount'

const AT = '2026-12-01T10:00:00Z'

function condition(type: string, status: 'True' | 'False' | 'Unknown', reason: string, message = ''): Condition {
  return { type, status, reason, message, lastTransitionTime: AT }
}

function bot(conditions: Condition[], suspend = false): BotView {
  return {
    name: 'news',
    spec: { account: { handle: 'news.example.com' }, schedule: '*/15 * * * *', suspend, sources: [] } as unknown as BotView['spec'],
    status: { conditions } as BotView['status'],
    resourceVersion: '1',
  }
}

const READY = condition('Ready', 'True', 'Ready')

describe('a bot\'s state in words', () => {
  it.each([
    [[READY], false, 'Running'],
    [[READY], true, 'Paused'],
    [[condition('Ready', 'False', 'SecretMissing'), condition('CredentialsFound', 'False', 'SecretMissing', 'No Secret news-credentials')], false, 'Waiting for its app password'],
    [[READY, condition('Healthy', 'False', 'CredentialsRejected', 'Bluesky said: Invalid identifier or password')], false, 'Bluesky refused the app password'],
    [[READY, condition('Healthy', 'False', 'RunsFailing', '3 runs failed')], false, 'Runs failing'],
    [[condition('Reconciled', 'False', 'InvalidSpec', 'The spec is invalid: spec.schedule')], true, 'Invalid settings'],
    [[], false, 'Starting'],
  ] as const)('%j, paused: %s → %s', (conditions, suspend, words) => {
    const badge = mountInApp(StateBadge, { bot: bot([...conditions], suspend) })
    expect(badge.text()).toBe(words)
  })

  it('says why, in the operator\'s words', () => {
    const badge = mountInApp(StateBadge, { bot: bot([READY, condition('Healthy', 'False', 'RunsFailing', '3 runs failed')]) })
    expect(badge.find('[data-test="state"]').attributes('title')).toBe('3 runs failed')
  })
})

describe('conditions', () => {
  it('explains each one and shows the operator\'s message', () => {
    const list = mountInApp(ConditionsList, {
      conditions: [condition('CredentialsFound', 'False', 'SecretMissing', 'No Secret news-credentials')],
    })
    expect(list.text()).toContain('CredentialsFound: False (SecretMissing)')
    expect(list.text()).toContain("Whether the bot's app password is stored where its runs read it.")
    expect(list.text()).toContain('No Secret news-credentials')
  })
})

describe('the next run', () => {
  it.each([
    ['*/15 * * * *', null, '2026-12-01T10:07:30Z', ['2026-12-01T10:15:00.000Z', '2026-12-01T10:30:00.000Z']],
    ['@daily', 'Europe/Berlin', '2026-12-01T10:00:00Z', ['2026-12-01T23:00:00.000Z', '2026-12-02T23:00:00.000Z']],
    ['30 9 * * mon-fri', 'UTC', '2026-12-04T10:00:00Z', ['2026-12-07T09:30:00.000Z', '2026-12-08T09:30:00.000Z']],
    ['0 0 31 2 *', 'UTC', '2026-12-01T10:00:00Z', []],
  ])('%s in %s after %s', (schedule, zone, after, expected) => {
    expect(nextRuns(schedule, zone, new Date(after), 2).map((run) => run.toISOString())).toEqual(expected)
  })
})
