/// <reference types="vitest/config" />
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import VueI18nPlugin from '@intlify/unplugin-vue-i18n/vite'
import tailwindcss from '@tailwindcss/vite'
import vue from '@vitejs/plugin-vue'
import { defineConfig, type Plugin } from 'vite'

const LOCALE = fileURLToPath(new URL('./src/locales/en.json', import.meta.url))
// Where a section of en.json is served from: a file only the build has, compiled like en.json.
const SECTIONS = fileURLToPath(new URL('./src/locales/en/', import.meta.url))

/**
 * en.json stays one file; each of its top-level sections is a module of its own at build time.
 * `import words from 'words:form'` adds en.json's "form" to the app's messages (i18n.ts) and gives
 * its words, so a page's words load with the modules that say them, not before the first route.
 */
function localeSections(): Plugin {
  const sectionOf = (id: string) => /\/src\/locales\/en\/([\w-]+)\.json$/.exec(id)?.[1]
  return {
    name: 'skybots:locale-sections',
    enforce: 'pre',
    resolveId(id) {
      if (id.startsWith('words:')) return `\0${id}`
      const section = sectionOf(id)
      return section ? `${SECTIONS}${section}.json` : undefined
    },
    load(id) {
      if (id.startsWith('\0words:')) {
        const section = id.slice('\0words:'.length)
        return `import { addWords } from '@/i18n'\nimport words from '${SECTIONS}${section}.json'\naddWords(words)\nexport default words.${section}\n`
      }
      const section = sectionOf(id)
      if (!section) return undefined
      this.addWatchFile(LOCALE)
      const all: Record<string, unknown> = JSON.parse(readFileSync(LOCALE, 'utf8'))
      if (!Object.hasOwn(all, section)) this.error(`en.json has no section "${section}" (words:${section})`)
      return JSON.stringify({ [section]: all[section] })
    },
  }
}

// The API the dev server proxies to (`skybots dev` or `skybots api`); the app is served at /app/ there too.
const api = process.env.SKYBOTS_API ?? 'http://127.0.0.1:8000'

export default defineConfig({
  base: '/app/',
  plugins: [
    localeSections(),
    vue(),
    tailwindcss(),
    // The locale file and its sections compiled at build time, so the app ships vue-i18n's runtime without its message
    // compiler; the Composition API only (no legacy API), no global <i18n-t> components.
    VueI18nPlugin({
      include: [LOCALE, `${SECTIONS}*.json`],
      runtimeOnly: true,
      compositionOnly: true,
      fullInstall: false,
      dropMessageCompiler: true,
      module: 'petite-vue-i18n',
    }),
  ],
  define: { __VUE_OPTIONS_API__: 'false' },
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  build: {
    // The folder the API serves at /app/ (skybots/api/pages.py); not committed, `make app` writes it.
    outDir: fileURLToPath(new URL('../skybots/api/static/app', import.meta.url)),
    emptyOutDir: true,
    reportCompressedSize: false,
    // Fonts stay files: the API's Content-Security-Policy allows fonts from 'self' only, not data: URLs.
    assetsInlineLimit: (file) => (file.endsWith('.woff2') ? false : undefined),
    // Rolldown's note on slow plugins (Tailwind's scan, on a busy machine) is not a problem of the build.
    rolldownOptions: { checks: { pluginTimings: false }, treeshake: { propertyReadSideEffects: false } },
  },
  server: {
    proxy: Object.fromEntries(['/api', '/auth', '/sign-in', '/static'].map((path) => [path, api])),
  },
  test: {
    environment: 'jsdom',
    include: ['tests/**/*.test.ts'],
  },
})
