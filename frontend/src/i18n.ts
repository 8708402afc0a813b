/**
 * vue-i18n's light edition (petite-vue-i18n): the app uses only t() with named values, on messages
 * compiled at build time. Its default resolver reads flat keys; ours follows the dots of en.json's nesting.
 * The first route carries the layout's and the faults' words; every other section of en.json comes
 * with the modules that say it (`import 'words:form'`, vite.config.ts), and a key said before its
 * section is in is an error on the console, not a silent key on the page.
 */
import { createI18n, registerMessageResolver, type MessageResolver } from 'petite-vue-i18n'
import app from '@/locales/en/app.json'
import errors from '@/locales/en/errors.json'

const nested: MessageResolver = (messages, path) =>
  path.split('.').reduce<ReturnType<MessageResolver>>((node, key) => (node && typeof node === 'object' && !Array.isArray(node) ? (node[key] ?? null) : null), messages as ReturnType<MessageResolver>)
registerMessageResolver(nested)

export const i18n = createI18n({
  legacy: false,
  locale: 'en',
  fallbackLocale: 'en',
  messages: { en: { ...app, ...errors } },
  // Vuestic asks for its own words (`vuestic.*`) here first and says its defaults when none are.
  missing: (_locale, key) => {
    if (!key.startsWith('vuestic.')) console.error(`No words for "${key}": import the section of en.json that has them ('words:…')`)
  },
})

/** Adds a section of en.json (`{form: {...}}`) to the messages: what a `words:` module does when it loads. */
export function addWords(words: Record<string, unknown>): void {
  i18n.global.mergeLocaleMessage('en', words)
}
