/**
 * vue-i18n's light edition (petite-vue-i18n): the app uses only t() with named values, on messages
 * compiled at build time. Its default resolver reads flat keys; ours follows the dots of en.json's nesting.
 */
import { createI18n, registerMessageResolver, type MessageResolver } from 'petite-vue-i18n'
import en from './locales/en.json'

const nested: MessageResolver = (messages, path) =>
  path.split('.').reduce<ReturnType<MessageResolver>>((node, key) => (node && typeof node === 'object' && !Array.isArray(node) ? (node[key] ?? null) : null), messages as ReturnType<MessageResolver>)
registerMessageResolver(nested)

export const i18n = createI18n({ legacy: false, locale: 'en', fallbackLocale: 'en', messages: { en } })
