/**
 * The bot form's state and its two directions: from a bot's spec (to edit it) and to the spec the
 * API takes. Lists are typed one item a line (or comma-separated); the API's 422 names fields by
 * their spec path, and `fieldOf` says which input of the form shows each one.
 */
import type { components } from '@/api/schema'

type Spec = components['schemas']['SpecInput']
export type CreateBody = components['schemas']['BotCreate']
export type UpdateBody = components['schemas']['BotUpdate']
type Source = Spec['sources'][number]
type Filters = components['schemas']['Filters']

export const SOURCE_TYPES = ['hashtag', 'search', 'mentions', 'author', 'list', 'feed'] as const
export type SourceType = (typeof SOURCE_TYPES)[number]
/** The field holding each source type's one value (mentions has none). */
export const SOURCE_VALUE: Record<SourceType, string | null> = {
  hashtag: 'tag',
  search: 'query',
  mentions: null,
  author: 'actor',
  list: 'list',
  feed: 'feed',
}

export const FILTER_LISTS = [
  'languages',
  'includeWords',
  'excludeWords',
  'includePatterns',
  'excludePatterns',
  'includeHashtags',
  'excludeHashtags',
  'excludeLabels',
  'authorsAllow',
  'authorsDeny',
] as const
export const FILTER_SWITCHES = ['excludeReplies', 'excludeQuotes', 'excludeReposts', 'excludeSelf'] as const
export const LIMITS = ['perRun', 'perHour', 'perDay'] as const

export interface SourceState {
  type: SourceType
  value: string
  maxPages: number
}

export interface FormState {
  name: string
  appPassword: string
  description: string
  handle: string
  service: string
  schedule: string
  timeZone: string
  dryRun: boolean
  suspend: boolean
  sources: SourceState[]
  lists: Record<(typeof FILTER_LISTS)[number], string>
  switches: Record<(typeof FILTER_SWITCHES)[number], boolean>
  postsWithoutLanguage: 'include' | 'exclude'
  minLikes: number
  maxAge: string
  limits: Record<(typeof LIMITS)[number], number>
}

const lines = (items: string[] | undefined): string => (items ?? []).join('\n')
const items = (text: string): string[] =>
  text
    .split(/[\n,]/)
    .map((item) => item.trim())
    .filter(Boolean)

/** A new bot's form: the API's defaults, one hashtag source, a dry run until the owner says otherwise. */
export function newForm(): FormState {
  return {
    name: '',
    appPassword: '',
    description: '',
    handle: '',
    service: 'https://bsky.social',
    schedule: '*/15 * * * *',
    timeZone: '',
    dryRun: true,
    suspend: false,
    sources: [{ type: 'hashtag', value: '', maxPages: 3 }],
    lists: Object.fromEntries(FILTER_LISTS.map((key) => [key, ''])) as FormState['lists'],
    switches: { excludeReplies: true, excludeQuotes: false, excludeReposts: true, excludeSelf: true },
    postsWithoutLanguage: 'include',
    minLikes: 0,
    maxAge: '24h',
    limits: { perRun: 10, perHour: 30, perDay: 200 },
  }
}

/** The form of an existing bot (its app password is never shown: a new one replaces it). */
export function formOf(name: string, spec: Spec): FormState {
  const filters: Partial<Filters> = spec.filters ?? {}
  const form = newForm()
  return {
    ...form,
    name,
    description: spec.description ?? '',
    handle: spec.account.handle,
    service: spec.account.service ?? form.service,
    schedule: spec.schedule,
    timeZone: spec.timeZone ?? '',
    dryRun: spec.dryRun ?? false,
    suspend: spec.suspend ?? false,
    sources: spec.sources.map((source) => {
      const field = SOURCE_VALUE[source.type]
      const value = field ? String((source as Record<string, unknown>)[field] ?? '') : ''
      return { type: source.type, value, maxPages: source.maxPages ?? 3 }
    }),
    lists: {
      languages: lines(filters.languages),
      includeWords: lines(filters.includeWords),
      excludeWords: lines(filters.excludeWords),
      includePatterns: lines(filters.includePatterns),
      excludePatterns: lines(filters.excludePatterns),
      includeHashtags: lines(filters.includeHashtags),
      excludeHashtags: lines(filters.excludeHashtags),
      excludeLabels: lines(filters.excludeLabels),
      authorsAllow: lines(filters.authors?.allow),
      authorsDeny: lines(filters.authors?.deny),
    },
    switches: {
      excludeReplies: filters.excludeReplies ?? form.switches.excludeReplies,
      excludeQuotes: filters.excludeQuotes ?? form.switches.excludeQuotes,
      excludeReposts: filters.excludeReposts ?? form.switches.excludeReposts,
      excludeSelf: filters.excludeSelf ?? form.switches.excludeSelf,
    },
    postsWithoutLanguage: filters.postsWithoutLanguage ?? 'include',
    minLikes: filters.minLikes ?? 0,
    maxAge: filters.maxAge ?? form.maxAge,
    limits: { ...form.limits, ...spec.limits },
  }
}

/**
 * The spec the API takes; every field is sent, so an edit replaces the whole spec. A new bot with
 * no labels typed gets the platform's default labels (adult content, !hide, !warn), not none.
 */
export function specOf(form: FormState, creating = false): Spec {
  const { authorsAllow, authorsDeny, excludeLabels, ...lists } = form.lists
  const labels = items(excludeLabels)
  return {
    description: form.description,
    account: { handle: form.handle.trim(), service: form.service.trim() },
    schedule: form.schedule.trim(),
    timeZone: form.timeZone.trim() || null,
    dryRun: form.dryRun,
    suspend: form.suspend,
    sources: form.sources.map(({ type, value, maxPages }) => {
      const field = SOURCE_VALUE[type]
      return (field ? { type, [field]: value.trim(), maxPages } : { type, maxPages }) as Source
    }),
    filters: {
      ...(Object.fromEntries(Object.entries(lists).map(([key, text]) => [key, items(text)])) as Record<string, string[]>),
      ...(creating && labels.length === 0 ? {} : { excludeLabels: labels }),
      ...form.switches,
      postsWithoutLanguage: form.postsWithoutLanguage,
      minLikes: form.minLikes,
      maxAge: form.maxAge.trim(),
      authors: { allow: items(authorsAllow), deny: items(authorsDeny) },
    },
    limits: { ...form.limits },
  }
}

/** A new bot's body: its name, app password and spec. */
export function createBodyOf(form: FormState): CreateBody {
  return { name: form.name.trim(), appPassword: form.appPassword, spec: specOf(form, true) }
}

/** An edit's body: the spec whole, as of `resourceVersion`; a new app password only when one is typed. */
export function updateBodyOf(form: FormState, resourceVersion: string): UpdateBody {
  return { resourceVersion, spec: specOf(form), ...(form.appPassword ? { appPassword: form.appPassword } : {}) }
}

/**
 * The form input that shows a problem the API named by its path (`spec.sources[0].tag`,
 * `spec.filters.includeWords[2]`, `appPassword`); null for one no input shows (shown above the form).
 */
export function fieldOf(path: string): string | null {
  const parts = path.replace(/\[(\d+)\]/g, '.$1').split('.')
  if (parts[0] === 'spec') parts.shift()
  const [head, second, third] = parts
  if (head === 'name' || head === 'appPassword') return head
  if (head === 'account' && (second === 'handle' || second === 'service')) return second
  if (head && ['description', 'schedule', 'timeZone', 'dryRun', 'suspend'].includes(head)) return head
  if (head === 'sources') {
    if (second === undefined || third === undefined) return 'sources'
    return `sources.${second}.${third === 'maxPages' ? 'maxPages' : third === 'type' ? 'type' : 'value'}`
  }
  if (head === 'filters' && second === 'authors') return third === 'deny' ? 'authorsDeny' : third === 'allow' ? 'authorsAllow' : null
  if (head === 'filters' && second) return second
  if (head === 'limits' && second) return second
  return null
}
