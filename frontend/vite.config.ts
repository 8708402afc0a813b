/// <reference types="vitest/config" />
import { fileURLToPath } from 'node:url'
import VueI18nPlugin from '@intlify/unplugin-vue-i18n/vite'
import tailwindcss from '@tailwindcss/vite'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

// The API the dev server proxies to (`skybots dev` or `skybots api`); the app is served at /app/ there too.
const api = process.env.SKYBOTS_API ?? 'http://127.0.0.1:8000'

export default defineConfig({
  base: '/app/',
  plugins: [
    vue(),
    tailwindcss(),
    // The locale files compiled at build time, so the app ships vue-i18n's runtime without its message
    // compiler; the Composition API only (no legacy API), no global <i18n-t> components.
    VueI18nPlugin({
      include: fileURLToPath(new URL('./src/locales/*.json', import.meta.url)),
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
    rolldownOptions: { checks: { pluginTimings: false } },
  },
  server: {
    proxy: Object.fromEntries(['/api', '/auth', '/sign-in', '/static'].map((path) => [path, api])),
  },
  test: {
    environment: 'jsdom',
    include: ['tests/**/*.test.ts'],
  },
})
