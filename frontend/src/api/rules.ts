/**
 * The API's own rules for a bot's bodies (rules.json, generated from its OpenAPI document by
 * `make app-client`, so they cannot drift): which values a body breaks, each at the path the API's
 * 422 would name (`spec.sources[0].tag`), so the form can say so before it sends anything. What the
 * schema cannot say (cron fields, time zones, RE2, the platform's bounds) is checked elsewhere or by
 * the server, which stays the judge.
 */
import rules from './rules.json'

export interface Rule {
  type?: string
  required?: string[]
  enum?: unknown[]
  const?: unknown
  pattern?: string
  minLength?: number
  maxLength?: number
  minimum?: number
  maximum?: number
  minItems?: number
  maxItems?: number
  $ref?: string
  properties?: Record<string, Rule>
  items?: Rule
  anyOf?: Rule[]
  oneOf?: Rule[]
  discriminator?: string
  /** Pairs of fields of which the first may not exceed the second. */
  atMost?: string[][]
}

export const SCHEMAS = rules as Record<string, Rule>

export type RuleName =
  | 'type'
  | 'required'
  | 'enum'
  | 'pattern'
  | 'minLength'
  | 'maxLength'
  | 'minimum'
  | 'maximum'
  | 'minItems'
  | 'maxItems'
  | 'atMost'

/** A value that breaks a rule: where (as the API names it), which rule, the rule's limit. */
export interface Broken {
  path: string
  /** The property the value is of (the list's, for an item of a list). */
  property: string
  /** A schema's rule (RuleName), or one a caller checks beside the schema. */
  rule: string
  limit?: unknown
  /** For atMost: the field the value may not exceed. */
  other?: string
  value: unknown
}

const typeOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value

const fits = (type: string, value: unknown): boolean => type === typeOf(value) || (type === 'number' && typeof value === 'number')

/** Every rule of `schema` that `value` breaks; the path of `value` is `path`, its property `property`. */
export function broken(schema: Rule, value: unknown, path = '', property = ''): Broken[] {
  const rule = schema.$ref ? SCHEMAS[schema.$ref]! : schema
  const at = (name: RuleName, limit?: unknown): Broken[] => [{ path, property, rule: name, limit, value }]
  if (rule.anyOf) {
    const branch = rule.anyOf.find((option) => option.type === undefined || fits(option.type, value)) ?? rule.anyOf[0]!
    return broken(branch, value, path, property)
  }
  if (rule.oneOf && rule.discriminator) {
    const tag = (value as Record<string, unknown> | null)?.[rule.discriminator]
    const branch = rule.oneOf.find((option) => (SCHEMAS[option.$ref ?? '']?.properties?.[rule.discriminator!]?.const ?? null) === tag)
    return branch ? broken(branch, value, path, property) : at('enum')
  }
  if (rule.type && !fits(rule.type, value)) return at('type', rule.type)
  if (rule.enum && !rule.enum.includes(value)) return at('enum', rule.enum)
  if (typeof value === 'string') {
    const length = [...value].length
    if (rule.minLength !== undefined && length < rule.minLength) return at(length === 0 ? 'required' : 'minLength', rule.minLength)
    if (rule.maxLength !== undefined && length > rule.maxLength) return at('maxLength', rule.maxLength)
    if (rule.pattern && !new RegExp(rule.pattern, 'u').test(value)) return at('pattern')
  }
  if (typeof value === 'number') {
    if (rule.minimum !== undefined && value < rule.minimum) return at('minimum', rule.minimum)
    if (rule.maximum !== undefined && value > rule.maximum) return at('maximum', rule.maximum)
  }
  if (Array.isArray(value)) {
    if (rule.minItems !== undefined && value.length < rule.minItems) return at('minItems', rule.minItems)
    if (rule.maxItems !== undefined && value.length > rule.maxItems) return at('maxItems', rule.maxItems)
    return value.flatMap((item, index) => (rule.items ? broken(rule.items, item, `${path}[${index}]`, property) : []))
  }
  if (typeOf(value) !== 'object') return []
  const object = value as Record<string, unknown>
  const inner = (key: string) => (path ? `${path}.${key}` : key)
  const missing = (rule.required ?? []).filter((key) => object[key] === undefined)
  const compared = (rule.atMost ?? [])
    .filter(([low = '', high = '']) => typeof object[low] === 'number' && typeof object[high] === 'number' && object[low] > object[high])
    .map(([low = '', high = '']): Broken => ({ path: inner(low), property: low, rule: 'atMost', limit: object[high], other: high, value: object[low] }))
  return [
    ...missing.map((key): Broken => ({ path: inner(key), property: key, rule: 'required', value: undefined })),
    ...Object.entries(rule.properties ?? {}).flatMap(([key, property]) =>
      object[key] === undefined ? [] : broken(property, object[key], inner(key), key),
    ),
    ...compared,
  ]
}
