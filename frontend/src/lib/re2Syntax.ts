/**
 * A user's include or exclude pattern, checked in the browser as far as JavaScript can: the server
 * compiles it with RE2 (skybots/patterns.py) and stays the judge. So this refuses only what RE2
 * refuses too: the constructs RE2 leaves out (each with the server's hint), and what JavaScript's
 * own parser cannot read once RE2's spellings it lacks are rewritten to JavaScript's
 * (`(?i)` flags, `(?P<name>`, `\Q…\E`). Anything RE2 reads passes.
 */

type Unsupported = 'lookaround' | 'backreference' | 'atomic' | 'conditional' | 'possessive' | 'endOfText'
export type PatternProblem = { rule: Unsupported } | { rule: 'syntax'; reason: string }

const GROUPS: [RegExp, Unsupported][] = [
  [/^\(\?(=|!|<=|<!)/, 'lookaround'],
  [/^\(\?P=/, 'backreference'],
  [/^\(\?>/, 'atomic'],
  [/^\(\?\(/, 'conditional'],
]

const escapeLiteral = (text: string): string => text.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&')

/** Why RE2 would refuse the pattern, as far as this can tell; null when it may well compile it. */
export function patternProblem(pattern: string): PatternProblem | null {
  let rewritten = ''
  let inClass = false
  for (let i = 0; i < pattern.length; i++) {
    const char = pattern[i]!
    const rest = pattern.slice(i)
    if (char === '\\') {
      const next = pattern[i + 1] ?? ''
      if (next === 'Q') {
        const end = pattern.indexOf('\\E', i + 2)
        const literal = pattern.slice(i + 2, end < 0 ? undefined : end)
        rewritten += inClass ? literal.replace(/[\\\]^-]/g, '\\$&') : escapeLiteral(literal)
        i = end < 0 ? pattern.length : end + 1
        continue
      }
      // RE2 reads \1 to \7 followed by an octal digit as an octal code; alone, or \8 and \9, as a backreference.
      if (!inClass && (/^[89]$/.test(next) || (/^[1-7]$/.test(next) && !/^[0-7]$/.test(pattern[i + 2] ?? '')))) {
        return { rule: 'backreference' }
      }
      if (next === 'Z') return { rule: 'endOfText' }
      rewritten += char + next
      i += 1
    } else if (inClass) {
      if (char === ']') inClass = false
      rewritten += char
    } else if (char === '[') {
      inClass = true
      // A ']' first in a class is one of its characters for RE2; JavaScript reads it as the class's end.
      const opening = rest.startsWith('[^]') ? '[^\\]' : rest.startsWith('[]') ? '[\\]' : '['
      rewritten += opening
      i += opening.length - (opening === '[' ? 1 : 2)
    } else if (char === '(' && pattern[i + 1] === '?') {
      const group = GROUPS.find(([start]) => start.test(rest))
      if (group) return { rule: group[1] }
      const flags = /^\(\?[imsU-]+([:)])/.exec(rest)
      const named = /^\(\?P</.exec(rest)
      if (flags) {
        rewritten += flags[1] === ':' ? '(?:' : ''
        i += flags[0].length - 1
      } else if (named) {
        rewritten += '(?<'
        i += named[0].length - 1
      } else rewritten += char
    } else if (pattern[i + 1] === '+' && (/[*+?]/.test(char) || (char === '}' && /\{\d+(,\d*)?$/.test(rewritten)))) {
      return { rule: 'possessive' }
    } else rewritten += char
  }
  try {
    new RegExp(rewritten)
  } catch (error) {
    return { rule: 'syntax', reason: String((error as Error).message).replace(/^.*: /, '') }
  }
  return null
}
