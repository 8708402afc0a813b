/**
 * Faults no page caught: an error in a component, a promise nobody awaited, a page's code that did
 * not load (offline, or a new release replaced it). The layout shows `unexpected` in words with a
 * reload (components/ProblemAlert.vue), never a blank page or a stack; the console keeps the stack
 * for whoever debugs it.
 */
import { ref, type App } from 'vue'
import type { Router } from 'vue-router'

export const unexpected = ref<unknown>(null)

function caught(error: unknown): void {
  unexpected.value = error
  console.error(error)
}

export function catchUnexpected(app: App, router: Router | null, page: Window = window): void {
  app.config.errorHandler = caught
  router?.onError(caught)
  page.addEventListener('unhandledrejection', (event) => (unexpected.value = event.reason))
}
