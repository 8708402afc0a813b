/** A rejection reason's code (skybots.reposter.filters.Rejection) in words; a code the app does not know, as it is. */
export function reasonInWords(t: (key: string) => string, code: string): string {
  const key = `reasons.${code}`
  const words = t(key)
  return words === key ? code : words
}
