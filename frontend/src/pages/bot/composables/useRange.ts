/** The bot page's chart range, kept in the address (?range=7d) so a reload or a shared link keeps it. */
import { computed } from 'vue'
import { useRoute, useRouter } from 'vue-router'
import type { StatsRange } from '@/api/client'

export const RANGES: readonly StatsRange[] = ['24h', '7d', '30d']

/** The range an address asks for; anything else there (a typo, an old link) reads as 24 hours. */
export function rangeOf(query: unknown): StatsRange {
  return RANGES.find((range) => range === query) ?? '24h'
}

export function useRange() {
  const route = useRoute()
  const router = useRouter()
  return computed<StatsRange>({
    get: () => rangeOf(route.query.range),
    set: (range) => void router.replace({ query: { ...route.query, range } }),
  })
}
