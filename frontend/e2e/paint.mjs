// Time to a painted bot page (benchmarks/web_app.py): node e2e/paint.mjs <bot page URL> <loads>
// Signs in as skybots dev's local developer, then opens the page <loads> times in fresh browser
// contexts (nothing cached) and <loads> times in one warm context (assets cached), and prints as
// JSON the milliseconds from navigation start until the chart shows the reposts line.
import { chromium } from 'playwright-core'
import { REPOSTS_CANVAS, ink } from './canvas.mjs'

const [address, loads = '7'] = process.argv.slice(2)
if (!address) throw new Error('usage: node e2e/paint.mjs <bot page URL> [loads]')

// In the page from its first script on: every frame, until the reposts line covers 20 rows.
const watcher = `(() => {
  const ink = ${ink.toString()}
  const check = () => {
    const canvas = document.querySelector(${JSON.stringify(REPOSTS_CANVAS)})
    if (canvas && ink(canvas, '--va-primary').rows >= 20) window.paintedAt = performance.now()
    else requestAnimationFrame(check)
  }
  requestAnimationFrame(check)
})()`

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
})
try {
  const signIn = await browser.newContext()
  const signedIn = await signIn.request.post(new URL('/auth/local', address).href)
  if (!signedIn.ok()) throw new Error(`sign-in: ${signedIn.status()}`)
  const storageState = await signIn.storageState()
  await signIn.close()

  /** One navigation to the page in `page`: when it painted (ms from navigation start). */
  const painted = async (page) => {
    await page.goto(address)
    await page.waitForFunction(() => window.paintedAt, null, { timeout: 20_000 })
    return page.evaluate(() => window.paintedAt)
  }
  const context = () => browser.newContext({ storageState, viewport: { width: 1280, height: 900 } })

  const cold = []
  for (let n = 0; n < Number(loads); n++) {
    const fresh = await context()
    await fresh.addInitScript(watcher)
    cold.push(await painted(await fresh.newPage()))
    await fresh.close()
  }
  const warmContext = await context()
  await warmContext.addInitScript(watcher)
  const page = await warmContext.newPage()
  await painted(page) // fills the cache
  const warm = []
  for (let n = 0; n < Number(loads); n++) warm.push(await painted(page))
  console.log(JSON.stringify({ cold, warm }))
} finally {
  await browser.close()
}
