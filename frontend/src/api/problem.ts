/**
 * What a failed request means to the person who made it, and what they can do next: the one mapping
 * every page and action shows (components/ProblemAlert.vue). Words are en.json's `errors.<kind>`;
 * the API's own words come beside them only when it said something (never a proxy's HTML page, never
 * a stack).
 */
import { ApiError } from './client'

export type ProblemKind =
  | 'offline'
  | 'unreachable'
  | 'signedOut'
  | 'forbidden'
  | 'notFound'
  | 'conflict'
  | 'tooLarge'
  | 'invalid'
  | 'tooMany'
  | 'serverDown'
  | 'server'
  | 'refused'
  | 'unexpected'

/** What the person can do: try the same again, reload the page, sign in again, go back to their bots. */
export type NextStep = 'retry' | 'reload' | 'signIn' | 'overview'

export interface Problem {
  kind: ProblemKind
  status: number | null
  steps: NextStep[]
  /** Seconds to wait before trying again, when the server said (Retry-After). */
  wait: number | null
  /** The API's own words, when it gave some. */
  said: string
}

const BY_STATUS: Record<number, [ProblemKind, NextStep[]]> = {
  401: ['signedOut', ['signIn']],
  403: ['forbidden', ['reload', 'overview']],
  404: ['notFound', ['overview']],
  409: ['conflict', ['reload', 'retry']],
  413: ['tooLarge', []],
  422: ['invalid', []],
  429: ['tooMany', ['retry']],
  502: ['serverDown', ['retry']],
  503: ['serverDown', ['retry']],
  504: ['serverDown', ['retry']],
}

/** The problem an error of a request is; `online` is whether the browser has a network. */
export function problemOf(error: unknown, online = globalThis.navigator?.onLine ?? true): Problem {
  if (!(error instanceof ApiError)) {
    // fetch rejects with a TypeError when no answer came at all: no network, or no server there.
    const kind = error instanceof TypeError ? (online ? 'unreachable' : 'offline') : 'unexpected'
    return { kind, status: null, steps: kind === 'unexpected' ? ['reload'] : ['retry'], wait: null, said: '' }
  }
  const [kind, steps] = BY_STATUS[error.status] ?? (error.status >= 500 ? ['server', ['retry']] : ['refused', ['retry']])
  return { kind, status: error.status, steps, wait: error.retryAfter, said: error.said }
}
