// The web app in Debian's Chromium against a running skybots (tests/test_web_app.py starts `skybots dev`
// on the local Bluesky network, with a bot that has reposted). Usage: node e2e/app.mjs <url> <bot>
// Exits non-zero, saying which step failed, when the app does not do what a user expects.
import { chromium } from 'playwright-core'

const [url, bot, screenshots = '../build/app-screenshots'] = process.argv.slice(2)
if (!url || !bot) throw new Error('usage: node e2e/app.mjs <url> <bot> [screenshot folder]')

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
})
const problems = []
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
  page.setDefaultTimeout(20_000)
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`))
  // Failed loads are judged by their responses below, with their addresses.
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.text().startsWith('Failed to load resource')) problems.push(`console: ${message.text()}`)
  })
  // Expected refusals: the API's 401s while signed out (they send the browser to sign-in), and the
  // landing pages' favicon, which the server pages do not have (the app links an empty one).
  let signedIn = false
  page.on('response', (response) => {
    const { pathname } = new URL(response.url())
    const expected = (!signedIn && response.status() === 401 && pathname.startsWith('/api/')) || pathname === '/favicon.ico'
    if (response.status() >= 400 && !expected) problems.push(`${response.status()} ${response.request().method()} ${pathname}`)
  })

  const step = async (what, action) => {
    try {
      await action()
      console.log(`ok: ${what}`)
    } catch (error) {
      await page.screenshot({ path: `${screenshots}/failed.png`, fullPage: true }).catch(() => undefined)
      throw new Error(`${what}: ${error.message}`, { cause: error })
    }
  }

  /** The page at a phone's, a tablet's and a laptop's width, into the screenshot folder. */
  const shots = async (name) => {
    for (const width of [360, 768, 1280]) {
      await page.setViewportSize({ width, height: 900 })
      await page.screenshot({ path: `${screenshots}/${name}-${width}.png`, fullPage: true })
      const wide = await page.evaluate(() => document.documentElement.scrollWidth)
      if (wide > width) problems.push(`${name} at ${width} px is ${wide} px wide: it scrolls sideways`)
    }
  }

  await step('a signed-out visit to a bot page leads to sign-in', async () => {
    await page.goto(`${url}/app/bots/${bot}?range=24h`)
    await page.waitForURL((address) => address.pathname === '/sign-in')
    signedIn = true
    await page.getByRole('button', { name: 'Sign in as the local developer' }).click()
  })

  await step('after signing in, the browser is back on that bot page', async () => {
    await page.waitForURL((address) => address.pathname === `/app/bots/${bot}` && address.search === '?range=24h')
    await page.getByRole('heading', { level: 1, name: bot }).waitFor()
    await page.getByText('Signed in as Local developer').waitFor()
  })

  await step('the bot page chart paints the reposts', async () => {
    const canvas = page.locator('[data-test="activity-chart"] canvas')
    await canvas.waitFor()
    const label = await canvas.getAttribute('aria-label')
    if (!/^[1-9]\d* reposts of [1-9]\d* candidates$/.test(label ?? '')) throw new Error(`chart label ${label}`)
    // The reposts line is drawn in the primary colour; a line that rises (not flat at zero) covers many rows.
    const rows = await canvas.evaluate((element) => {
      const { width, height } = element
      const pixels = element.getContext('2d').getImageData(0, 0, width, height).data
      const primary = getComputedStyle(document.documentElement).getPropertyValue('--va-primary').trim()
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(primary.slice(i, i + 2), 16))
      const painted = new Set()
      for (let i = 0; i < pixels.length; i += 4) {
        const near = Math.abs(pixels[i] - r) + Math.abs(pixels[i + 1] - g) + Math.abs(pixels[i + 2] - b) < 30
        if (near && pixels[i + 3] > 200) painted.add(Math.floor(i / 4 / width))
      }
      return painted.size
    })
    if (rows < 20) throw new Error(`the reposts line covers ${rows} rows of the canvas`)
  })

  await shots('bot')

  await step('the runs table lists the run', async () => {
    await page.locator('[data-test="runs"] tbody tr').filter({ hasText: 'succeeded' }).first().waitFor()
  })

  await step('pause, then resume', async () => {
    await page.locator('[data-test="pause"]').click()
    await page.locator('h1 [data-test="state"]', { hasText: 'Paused' }).waitFor()
    await page.locator('[data-test="resume"]').click()
    await page.locator('[data-test="pause"]').waitFor()
  })

  await step('run now starts a run', async () => {
    await page.locator('[data-test="run"]').click()
    await page.locator('[data-test="run-started"]').waitFor()
  })

  await step('the overview shows the bot, its state in words and its reposts of the last 24 hours', async () => {
    await page.getByRole('link', { name: 'Your bots' }).click()
    const row = page.locator(`tr[data-bot="${bot}"]`)
    await row.waitFor()
    await row.locator('[data-test="state"]', { hasText: /^(Running|Starting)$/ }).waitFor()
    const reposts = Number(await row.locator('[data-test="reposts24h"]').textContent())
    if (!(reposts > 0)) throw new Error(`reposts in 24 h: ${reposts}`)
    await row.locator('[data-test="next-run"]', { hasText: /^in \d+ (second|minute|hour|day)s?$/ }).waitFor()
  })

  await shots('overview')

  await step('the dark theme switch changes Vuestic and Tailwind colours alike', async () => {
    const colours = () =>
      page.evaluate(() => ({
        vuestic: getComputedStyle(document.documentElement).getPropertyValue('--va-background-primary').trim(),
        page: getComputedStyle(document.querySelector('.bg-page')).backgroundColor,
      }))
    const light = await colours()
    const changed = (before) =>
      page.waitForFunction((colour) => getComputedStyle(document.querySelector('.bg-page')).backgroundColor !== colour, before.page)
    // On with the mouse (the switch's track), off again with the keyboard alone.
    await page.locator('[data-test="theme"] .va-switch__inner').click()
    await changed(light)
    const dark = await colours()
    if (dark.vuestic === light.vuestic) throw new Error(`Vuestic's background stayed ${light.vuestic}`)
    await page.getByRole('switch', { name: 'Dark theme' }).focus()
    await page.keyboard.press('Space')
    await changed(dark)
    const again = await colours()
    if (again.vuestic !== light.vuestic || again.page !== light.page) throw new Error(`back to light: ${JSON.stringify(again)}`)
  })

  await step('sign out ends the session', async () => {
    await page.locator('[data-test="sign-out"]').click()
    signedIn = false
    await page.waitForURL((address) => address.pathname === '/')
    const me = await page.evaluate(async () => (await fetch('/api/me')).status)
    if (me !== 401) throw new Error(`/api/me after signing out: ${me}`)
  })

  if (problems.length) throw new Error(problems.join('\n'))
} finally {
  await browser.close()
}
