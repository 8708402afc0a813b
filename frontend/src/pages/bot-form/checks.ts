/**
 * What the form knows is wrong before it sends anything, by form field, in words: the API's own
 * rules (src/api/rules.ts, from its OpenAPI document), and what the schema cannot say but the
 * browser can check: cron fields, time zones, and patterns as far as JavaScript reads RE2. The API
 * stays the judge of the rest (its 422 still shows at the field it names).
 */
import { broken, SCHEMAS, type Broken } from '@/api/rules'
import { patternProblem } from '@/lib/re2Syntax'
import { readsCron } from '@/lib/schedule'
import { createBodyOf, fieldOf, updateBodyOf, type FormState } from './form'
import 'words:form'
import 'words:rules'

type Translate = (key: string, values?: Record<string, unknown>) => string

/** Properties whose pattern is another's (their words are that one's). */
const SAME_PATTERN: Record<string, string> = { includeHashtags: 'tag', excludeHashtags: 'tag', allow: 'actor', deny: 'actor' }
/** A PDS address is public https only in a cluster; which hosts a run may reach is the server's egress policy. */
const SERVER_JUDGES = new Set(['spec.account.service'])

/** The property whose words say what its pattern asks (`rules.pattern.<property>` in en.json). */
export const patternWords = (property: string): string => SAME_PATTERN[property] ?? property

/** The client-known rules the values break, at the paths the API names: the schema's, and the browser's own. */
export function brokenRules(form: FormState, editing: boolean): Broken[] {
  const body = editing ? updateBodyOf(form, '-') : createBodyOf(form)
  const spec = body.spec as Record<string, unknown>
  const found = [...broken(SCHEMAS[editing ? 'BotUpdate' : 'BotCreate']!, body), ...(editing ? broken({ $ref: 'SpecInput' }, spec, 'spec') : [])]
  const schedule = String(spec.schedule)
  if (!found.some(({ path }) => path === 'spec.schedule') && !readsCron(schedule)) {
    found.push({ path: 'spec.schedule', property: 'schedule', rule: 'cron', value: schedule })
  }
  const zone = spec.timeZone
  if (typeof zone === 'string' && !found.some(({ path }) => path === 'spec.timeZone') && !knownZone(zone)) {
    found.push({ path: 'spec.timeZone', property: 'timeZone', rule: 'timeZone', value: zone })
  }
  const filters = spec.filters as Record<string, string[]>
  for (const list of ['includePatterns', 'excludePatterns']) {
    filters[list]!.forEach((pattern, index) => {
      const path = `spec.filters.${list}[${index}]`
      const problem = found.some((item) => item.path === path) ? null : patternProblem(pattern)
      if (problem) found.push({ path, property: list, rule: `regex.${problem.rule}`, limit: 'reason' in problem ? problem.reason : undefined, value: pattern })
    })
  }
  return found.filter(({ path, rule }) => !(SERVER_JUDGES.has(path) && rule === 'pattern'))
}

function knownZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone })
    return true
  } catch {
    return false
  }
}

/** A broken rule in words from en.json, naming the rule (and, in a list, the item). */
export function wordsOf(problem: Broken, t: Translate): string {
  const { rule, property, limit, value } = problem
  const words =
    rule === 'pattern'
      ? t(`rules.pattern.${patternWords(property)}`)
      : rule === 'type'
        ? t(`rules.type.${limit === 'integer' ? 'integer' : 'other'}`)
        : rule === 'atMost'
          ? t('rules.atMost', { other: t(`form.limits.${String(problem.other)}`), limit })
          : rule.startsWith('regex.')
            ? t(`rules.${rule}`, { reason: String(limit ?? '') })
            : t(`rules.${rule}`, { limit: String(limit ?? '') })
  return /\[\d+\]$/.test(problem.path) ? t('rules.item', { value: String(value), words }) : words
}

/** The first problem of each form field, in words. */
export function formProblems(form: FormState, editing: boolean, t: Translate): Record<string, string> {
  const problems: Record<string, string> = {}
  for (const problem of brokenRules(form, editing)) {
    // A problem no input shows (none known today) still blocks the save, said above the form.
    problems[fieldOf(problem.path) ?? 'form'] ??= wordsOf(problem, t)
  }
  return problems
}
