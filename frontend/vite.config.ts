/// <reference types="vitest/config" />
import { fileURLToPath } from 'node:url'
import tailwindcss from '@tailwindcss/vite'
import vue from '@vitejs/plugin-vue'
import { defineConfig } from 'vite'

// The API the dev server proxies to (`skybots dev` or `skybots api`); the app is served at /app/ there too.
const api = process.env.SKYBOTS_API ?? 'http://127.0.0.1:8000'

export default defineConfig({
  base: '/app/',
  plugins: [vue(), tailwindcss()],
  resolve: { alias: { '@': fileURLToPath(new URL('./src', import.meta.url)) } },
  build: {
    // The folder the API serves at /app/ (skybots/api/pages.py); not committed, `make app` writes it.
    outDir: fileURLToPath(new URL('../skybots/api/static/app', import.meta.url)),
    emptyOutDir: true,
    reportCompressedSize: false,
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
