/**
 * Keeping a page current by asking again: `tick` every few seconds while the tab is visible, none
 * while it is hidden, one at once when it shows again. Ticks never overlap; a failed one is kept
 * in `failure` (cleared by the next that works) and the polling goes on.
 */
import { onScopeDispose, ref } from 'vue'

export const POLL_MS = 5000

export function usePolling(tick: () => Promise<unknown>, every = POLL_MS, page: Document = document) {
  const failure = ref<unknown>(null)
  let timer: ReturnType<typeof setTimeout> | undefined
  let running = false
  let stopped = false

  function wait(): void {
    clearTimeout(timer)
    timer = !stopped && page.visibilityState === 'visible' ? setTimeout(now, every) : undefined
  }

  async function now(): Promise<void> {
    if (running || stopped) return
    running = true
    clearTimeout(timer)
    try {
      await tick()
      failure.value = null
    } catch (caught) {
      failure.value = caught
    } finally {
      running = false
      wait()
    }
  }

  function shown(): void {
    if (page.visibilityState === 'visible') void now()
    else wait()
  }

  page.addEventListener('visibilitychange', shown)
  wait()
  onScopeDispose(() => {
    stopped = true
    clearTimeout(timer)
    page.removeEventListener('visibilitychange', shown)
  })
  return { failure, now }
}
