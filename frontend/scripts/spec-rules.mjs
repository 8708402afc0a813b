// The rules of a bot's create and update bodies, from the API's OpenAPI document, for the form to check
// as the user types (src/api/rules.ts): the schemas BotCreate and BotUpdate and those they name, with
// only the keywords that constrain a value. `make app-client` writes src/api/rules.json with this, and a
// test fails when the committed file drifts from `skybots openapi`.
// Usage: node scripts/spec-rules.mjs <openapi.json> <rules.json>
import { readFileSync, writeFileSync } from 'node:fs'

const [input, output] = process.argv.slice(2)
if (!output) throw new Error('usage: node scripts/spec-rules.mjs <openapi.json> <rules.json>')
const { schemas } = JSON.parse(readFileSync(input, 'utf8')).components
const KEYWORDS = ['type', 'required', 'enum', 'const', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum', 'minItems', 'maxItems']
const PREFIX = '#/components/schemas/'

const kept = {}
function keep(schema) {
  if (Array.isArray(schema)) return schema.map(keep)
  const rules = Object.fromEntries(KEYWORDS.filter((key) => key in schema).map((key) => [key, schema[key]]))
  if (schema.$ref) {
    const name = schema.$ref.slice(PREFIX.length)
    if (!(name in kept)) {
      kept[name] = {} // taken, before its own references are followed
      kept[name] = keep(schemas[name])
    }
    rules.$ref = name
  }
  if (schema.properties) rules.properties = Object.fromEntries(Object.entries(schema.properties).map(([key, value]) => [key, keep(value)]))
  for (const key of ['items', 'anyOf', 'oneOf']) if (schema[key]) rules[key] = keep(schema[key])
  if (schema.discriminator) rules.discriminator = schema.discriminator.propertyName
  // Comparisons of two fields (`self.perRun <= self.perHour`); the other CEL rules the server judges.
  const compared = (schema['x-kubernetes-validations'] ?? []).filter(({ rule }) => /^self\.\w+ <= self\.\w+$/.test(rule))
  if (compared.length) rules.atMost = compared.map(({ rule }) => rule.match(/\w+(?= <=)|(?<=<= self\.)\w+/g))
  return rules
}

for (const name of ['BotCreate', 'BotUpdate']) kept[name] = keep(schemas[name])
const sorted = Object.fromEntries(Object.keys(kept).sort().map((name) => [name, kept[name]]))
writeFileSync(output, JSON.stringify(sorted, null, 2) + '\n')
