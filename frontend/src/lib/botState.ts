/** A bot's state in words, from its spec and the conditions the operator wrote (skybots/operator/status.py). */
import type { BotView, Condition } from '@/api/client'

export type StateKey =
  | 'paused'
  | 'invalidSpec'
  | 'waitingForPassword'
  | 'passwordRefused'
  | 'runsFailing'
  | 'running'
  | 'starting'

export interface BotState {
  /** A key of `state.*` in the locale file. */
  key: StateKey
  /** A Vuestic colour name. */
  color: 'secondary' | 'danger' | 'warning' | 'success' | 'info'
  /** The operator's own words, when they say why. */
  detail: string
}

function condition(bot: BotView, type: string): Condition | undefined {
  return bot.status.conditions?.find((item) => item.type === type)
}

export function botState(bot: BotView): BotState {
  const reconciled = condition(bot, 'Reconciled')
  const credentials = condition(bot, 'CredentialsFound')
  const healthy = condition(bot, 'Healthy')
  const ready = condition(bot, 'Ready')
  if (reconciled?.status === 'False' && reconciled.reason === 'InvalidSpec')
    return { key: 'invalidSpec', color: 'danger', detail: reconciled.message ?? '' }
  if (bot.spec.suspend) return { key: 'paused', color: 'secondary', detail: '' }
  if (credentials?.status === 'False')
    return { key: 'waitingForPassword', color: 'warning', detail: credentials.message ?? '' }
  if (healthy?.status === 'False' && healthy.reason === 'CredentialsRejected')
    return { key: 'passwordRefused', color: 'danger', detail: healthy.message ?? '' }
  if (healthy?.status === 'False') return { key: 'runsFailing', color: 'danger', detail: healthy.message ?? '' }
  if (ready?.status === 'True') return { key: 'running', color: 'success', detail: '' }
  return { key: 'starting', color: 'info', detail: ready?.message ?? '' }
}
