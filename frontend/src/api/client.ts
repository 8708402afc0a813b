/**
 * The API, typed from its OpenAPI document (schema.d.ts, `make app-client`).
 *
 * Every write carries the session's CSRF token (from GET /api/me); a 401 on any request sends
 * the browser to sign-in and back; a refused request becomes an ApiError a page can show.
 */
import createClient, { type Client, type Middleware } from 'openapi-fetch'
import type { components, paths } from './schema'

export type BotView = components['schemas']['BotView']
export type Me = components['schemas']['Me']
export type MailSettings = components['schemas']['MailSettings']
export type RunRecord = components['schemas']['RunRecord']
export type Stats = components['schemas']['Stats']
export type Bucket = components['schemas']['Bucket']
export type Condition = components['schemas']['Condition']
export type PostCard = components['schemas']['PostCard']
export type RejectedPost = components['schemas']['RejectedPost']
export type AppConfig = components['schemas']['AppConfig']
export type StatsRange = Stats['range']
export type Api = Client<paths>

export const CSRF_HEADER = 'X-CSRF-Token'
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * A refused request: its status, a message, for a 422 the message of each field it names; the API's
 * own words (`said`: none from a proxy's error page), and how many seconds a Retry-After asks to wait.
 */
export class ApiError extends Error {
  readonly status: number
  readonly fields: Record<string, string>
  readonly said: string
  readonly retryAfter: number | null

  constructor(status: number, message: string, fields: Record<string, string> = {}, { said = message, retryAfter = null as number | null } = {}) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.fields = fields
    this.said = said
    this.retryAfter = retryAfter
  }
}

/** Seconds from now until a Retry-After (seconds, or an HTTP date) has passed; null without one. */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | null {
  if (header === null || header.trim() === '') return null
  const seconds = /^\d+$/.test(header.trim()) ? Number(header) : (Date.parse(header) - now) / 1000
  return Number.isNaN(seconds) ? null : Math.max(0, Math.ceil(seconds))
}

/** The ApiError for a refused request, from the body openapi-fetch read (JSON, or a proxy's HTML page as text). */
export function apiError(response: Response, body: unknown): ApiError {
  const detail = typeof body === 'object' && body !== null ? (body as { detail?: unknown }).detail : undefined
  const retryAfter = retryAfterSeconds(response.headers.get('Retry-After'))
  if (Array.isArray(detail)) {
    const fields: Record<string, string> = {}
    for (const item of detail as { field?: unknown; message?: unknown }[]) {
      if (typeof item.field === 'string' && typeof item.message === 'string') fields[item.field] = item.message
    }
    const first = Object.entries(fields)[0]
    const message = first ? `${first[0]}: ${first[1]}` : response.statusText
    return new ApiError(response.status, message, fields, { said: first ? message : '', retryAfter })
  }
  if (typeof detail === 'string') return new ApiError(response.status, detail, {}, { retryAfter })
  return new ApiError(response.status, response.statusText || `HTTP ${response.status}`, {}, { said: '', retryAfter })
}

/** The sign-in page, which sends the browser back to `next` (a path of this site) once signed in. */
export function signInUrl(next: string): string {
  return `/sign-in?next=${encodeURIComponent(next)}`
}

export interface ApiOptions {
  /** Absolute under tests; the page's origin in the browser. */
  baseUrl?: string
  fetch?: typeof globalThis.fetch
  /** Called on a 401 from any request, before its error reaches the caller. */
  onUnauthorized: () => void
}

export function createApi({ baseUrl = '', fetch = globalThis.fetch, onUnauthorized }: ApiOptions): Api {
  const client = createClient<paths>({ baseUrl, fetch })
  let csrf: Promise<string> | null = null

  /** The session's CSRF token, asked once; asked again after a 401 or 403 (a new session has a new one). */
  function csrfToken(): Promise<string> {
    csrf ??= client.GET('/api/me').then(({ data }) => data?.csrfToken ?? '')
    return csrf
  }

  const middleware: Middleware = {
    async onRequest({ request }) {
      if (SAFE_METHODS.has(request.method)) return undefined
      request.headers.set(CSRF_HEADER, await csrfToken())
      return request
    },
    onResponse({ response }) {
      if (response.status === 401 || response.status === 403) csrf = null
      if (response.status === 401) onUnauthorized()
      return undefined
    },
  }
  client.use(middleware)
  return client
}

/** The data of an answer, or its ApiError thrown. */
export async function data<T>(answer: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await answer
  if (!response.ok) throw apiError(response, error)
  return data as T
}

/** A conditional read's answer: its data and ETag, or `unchanged` for a 304 (still what the ETag sent names). */
export type Fresh<T> = { unchanged: true } | { unchanged: false; data: T; etag: string | null }

/** The answer of a read sent with If-None-Match; any refusal but a 304 thrown as its ApiError. */
export async function fresh<T>(answer: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<Fresh<T>> {
  const { data, error, response } = await answer
  if (response.status === 304) return { unchanged: true }
  if (!response.ok) throw apiError(response, error)
  return { unchanged: false, data: data as T, etag: response.headers.get('ETag') }
}

/** The `before` cursor of a page's `Link: <...>; rel="next"` (GET /api/bots/{name}/runs), or null on the last page. */
export function nextCursor(response: Response): string | null {
  const next = /<([^>]*)>\s*;\s*rel="?next"?/.exec(response.headers.get('Link') ?? '')
  return next?.[1] ? new URL(next[1], 'http://link.invalid').searchParams.get('before') : null
}
