import { describe, expect, it } from 'vitest'
import { SCHEMAS, type Rule } from '@/api/rules'
import { i18n } from '@/i18n'
import { patternProblem } from '@/lib/re2Syntax'
import { formProblems, patternWords } from '@/pages/bot-form/checks'
import { newForm, type FormState } from '@/pages/bot-form/form'

const t = i18n.global.t as (key: string, values?: Record<string, unknown>) => string

/** A new bot's form that the client finds nothing wrong with, changed by `change`. */
function problems(change: (form: FormState) => void = () => undefined, editing = false) {
  const form = newForm()
  Object.assign(form, { name: 'news', handle: 'news.bsky.social', appPassword: 'abcd-efgh-ijkl-mnop' })
  form.sources[0]!.value = 'kubernetes'
  change(form)
  return formProblems(form, editing, t)
}

describe('the form\'s own checks, from the API\'s rules', () => {
  it('find nothing wrong with a complete new bot, nor with an edit that keeps its app password', () => {
    expect(problems()).toEqual({})
    expect(problems((form) => (form.appPassword = ''), true)).toEqual({})
  })

  it.each<[string, (form: FormState) => void, string, string]>([
    ['required', (form) => (form.name = ''), 'name', 'Required.'],
    ['required, of a source', (form) => (form.sources[0]!.value = '  '), 'sources.0.value', 'Required.'],
    ['minLength', (form) => (form.appPassword = 'abc'), 'appPassword', 'At least 4 characters.'],
    ['maxLength', (form) => (form.description = 'x'.repeat(501)), 'description', 'At most 500 characters.'],
    ['minimum', (form) => (form.sources[0]!.maxPages = 0), 'sources.0.maxPages', 'At least 1.'],
    ['maximum', (form) => (form.limits.perDay = 10001), 'perDay', 'At most 10000.'],
    ['a whole number', (form) => (form.minLikes = '' as unknown as number), 'minLikes', 'Must be a whole number.'],
    ['maxItems', (form) => (form.lists.languages = Array.from({ length: 21 }, (_, i) => `l${'abcdefghijklmnopqrstu'[i]}`).join('\n')), 'languages', 'At most 20 of these.'],
    ['one limit at most another', (form) => (form.limits.perRun = 31), 'perRun', 'Cannot be more than “Reposts per hour” (30).'],
    ['the name\'s pattern', (form) => (form.name = 'News_Bot'), 'name', "Lower-case letters, digits and '-', starting and ending with a letter or digit."],
    ['the handle\'s pattern', (form) => (form.handle = 'news'), 'handle', 'Not a handle such as news-bot.bsky.social.'],
    ['a hashtag\'s pattern', (form) => (form.sources[0]!.value = 'two words'), 'sources.0.value', "Not a hashtag: leave out the '#', and no spaces."],
    ['a list item\'s pattern, naming the item', (form) => (form.lists.excludeHashtags = 'ok, #ad'), 'excludeHashtags', "“#ad”: Not a hashtag: leave out the '#', and no spaces."],
    ['an author\'s pattern', (form) => (form.lists.authorsDeny = 'spam account'), 'authorsDeny', '“spam account”: Not a handle (alice.bsky.social) or a DID (did:plc:…).'],
    ['a duration\'s pattern', (form) => (form.maxAge = '1d'), 'maxAge', 'Not a duration such as 24h, 90m or 1h30m.'],
    ['the schedule\'s pattern', (form) => (form.schedule = 'every hour'), 'schedule', 'Not a cron schedule: five fields (minute hour day month weekday) or a macro such as @hourly.'],
    ['cron: a value out of range', (form) => (form.schedule = '61 * * * *'), 'schedule', expect.stringMatching(/^Not a schedule cron reads: minute 0-59/)],
    ['cron: a range that goes down', (form) => (form.schedule = '0 9 * * fri-mon'), 'schedule', expect.stringMatching(/^Not a schedule cron reads/)],
    ['cron: a step of 0', (form) => (form.schedule = '*/0 * * * *'), 'schedule', expect.stringMatching(/^Not a schedule cron reads/)],
    ['a time zone', (form) => (form.timeZone = 'Mars/Olympus_Mons'), 'timeZone', expect.stringMatching(/^Not a time zone this browser knows/)],
    ['a pattern RE2 refuses', (form) => (form.lists.excludePatterns = 'ok\n(?=giveaway)'), 'excludePatterns', '“(?=giveaway)”: Lookahead and lookbehind are not supported (RE2 syntax).'],
    ['a pattern no engine reads', (form) => (form.lists.includePatterns = '(release'), 'includePatterns', '“(release”: Not a valid regular expression: Unterminated group.'],
  ])('%s', (_, change, field, words) => {
    expect(problems(change)).toEqual({ [field]: words })
  })

  it('leave the PDS address to the server, whose egress policy decides (the local runtime allows http on loopback)', () => {
    expect(problems((form) => (form.service = 'http://127.0.0.1:2583'))).toEqual({})
  })

  it('leave to the server what the schema does not say (a word both included and excluded, the platform\'s bounds)', () => {
    expect(problems((form) => Object.assign(form.lists, { includeWords: 'k8s', excludeWords: 'k8s' }))).toEqual({})
    expect(problems((form) => (form.schedule = '* * * * *'))).toEqual({})
  })

  it('have words for every pattern the API\'s schemas hold, and JavaScript reads each one', () => {
    const patterned = new Set<string>()
    const walk = (rule: Rule, property: string): void => {
      if (rule.pattern) patterned.add(property)
      if (rule.pattern) expect(() => new RegExp(rule.pattern!, 'u')).not.toThrow()
      Object.entries(rule.properties ?? {}).forEach(([key, inner]) => walk(inner, key))
      if (rule.items) walk(rule.items, property)
      ;[...(rule.anyOf ?? []), ...(rule.oneOf ?? [])].forEach((inner) => walk(inner, property))
    }
    Object.values(SCHEMAS).forEach((rule) => walk(rule, ''))
    expect(patterned.size).toBeGreaterThan(10)
    // petite-vue-i18n has no te(): a key without a message translates to itself.
    const key = (property: string) => `rules.pattern.${patternWords(property)}`
    expect([...patterned].filter((property) => i18n.global.t(key(property)) === key(property))).toEqual([])
  })
})

describe('a pattern, checked as far as JavaScript reads RE2', () => {
  // Each verdict is RE2's (skybots.patterns.pattern_error, google-re2).
  it.each([
    '(?i)kubernetes', '(?i:k8s)|kube', '(?P<name>\\w+)', '(?<word>\\w+)', '\\Q**\\E', '[]a]', '[^]a]', '\\pL+', '\\p{Greek}',
    '[[:alpha:]]+', '\\x{263a}', '\\z', '\\Ahello', 'a{2,5}', '\\12', '}+', 'x}+', '(?U)a+', '(?s).', '(?m)^x$', '[\\]]', '\\\\',
  ])('RE2 reads %s, and so does the form', (pattern) => {
    expect(patternProblem(pattern)).toBeNull()
  })

  it.each([
    ['(?=x)', 'lookaround'], ['(?!x)', 'lookaround'], ['(?<=x)y', 'lookaround'], ['(?<!x)y', 'lookaround'],
    ['(a)\\1', 'backreference'], ['\\8', 'backreference'], ['(?P<n>a)(?P=n)', 'backreference'], ['(?>a)', 'atomic'],
    ['a++', 'possessive'], ['a*+', 'possessive'], ['a{2}+', 'possessive'], ['end\\Z', 'endOfText'],
    ['(a', 'syntax'], ['a)', 'syntax'], ['[a', 'syntax'], ['*a', 'syntax'], ['a**', 'syntax'], ['[z-a]', 'syntax'],
    ['a{2,1}', 'syntax'], ['x\\', 'syntax'], ['\\(?i)', 'syntax'],
  ])('RE2 refuses %s, and the form says why: %s', (pattern, rule) => {
    expect(patternProblem(pattern)?.rule).toBe(rule)
  })
})
