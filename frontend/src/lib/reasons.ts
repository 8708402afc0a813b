/** Why the filters skipped a post (`too_old`, `language`, ...), in words; a reason this app does not know yet, as the API said it. */
import { i18n } from '@/i18n'
import reasons from 'words:reasons'

export function reasonWords(reason: string): string {
  return Object.hasOwn(reasons, reason) ? i18n.global.t(`reasons.${reason}`) : reason
}

/** Counts by reason in words, the most frequent first: "A reply: 4, A quote post: 1". */
export function reasonCounts(counts: Record<string, number>): string {
  return Object.entries(counts)
    .filter(([, count]) => count > 0)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([reason, count]) => `${reasonWords(reason)}: ${count}`)
    .join(', ')
}
