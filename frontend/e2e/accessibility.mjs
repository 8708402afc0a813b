// axe-core in the page, through playwright-core: the browser flow's check of every page it visits.
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'

const AXE = await readFile(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8')
const BLOCKING = new Set(['serious', 'critical'])

/**
 * axe-core's WCAG A and AA rules (and its best practices) on the page as it is now; throws, listing
 * each serious or critical violation with the elements it found, when there is one.
 */
export async function assertAccessible(page) {
  // Evaluated, not added as a <script>: the server pages' Content-Security-Policy refuses inline scripts.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(AXE)
  const violations = await page.evaluate(async () => {
    const { violations } = await window.axe.run(document, { resultTypes: ['violations'] })
    return violations.map(({ id, impact, help, nodes }) => ({ id, impact, help, targets: nodes.map((node) => `${node.target.join(' ')} (${node.failureSummary.split('\n').slice(1).join(' ').trim()})`) }))
  })
  const blocking = violations.filter((violation) => BLOCKING.has(violation.impact))
  if (blocking.length) {
    const listed = blocking.map(({ id, impact, help, targets }) => `${impact} ${id} (${help}): ${targets.join(', ')}`)
    throw new Error(`axe-core found ${blocking.length} serious or critical violations:\n  ${listed.join('\n  ')}`)
  }
}
