// The web app in Debian's Chromium against a running skybots (tests/test_web_app.py starts `skybots dev`
// on the local Bluesky network, with a bot that has reposted). Usage: node e2e/app.mjs <url> <bot>
// Exits non-zero, saying which step failed, when the app does not do what a user expects.
import { chromium } from 'playwright-core'
import { assertAccessible } from './accessibility.mjs'
import { ink } from './canvas.mjs'

const [url, bot, handle, service, password, tag, screenshots = '../build/app-screenshots'] = process.argv.slice(2)
if (!tag) throw new Error('usage: node e2e/app.mjs <url> <bot> <handle> <PDS> <app password> <hashtag> [screenshot folder]')

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
  // Besides, the refusals a step provokes on purpose (in `refusals`).
  let signedIn = false
  const refusals = new Set()
  page.on('response', (response) => {
    const { pathname } = new URL(response.url())
    const refusal = `${response.status()} ${response.request().method()} ${pathname}`
    const expected = (!signedIn && response.status() === 401 && pathname.startsWith('/api/')) || pathname === '/favicon.ico'
    if (response.status() >= 400 && !expected && !refusals.has(refusal)) problems.push(refusal)
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

  /** The next frame but one: what a resize made redraw (chart.js redraws in a frame after its ResizeObserver) is drawn. */
  const redrawn = () => page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))))

  /** The page at a phone's, a tablet's and a laptop's width, into the screenshot folder; then axe-core on it. */
  const shots = async (name) => {
    for (const width of [360, 768, 1280]) {
      await page.setViewportSize({ width, height: 900 })
      await redrawn()
      await page.screenshot({ path: `${screenshots}/${name}-${width}.png`, fullPage: true })
      const wide = await page.evaluate(() => document.documentElement.scrollWidth)
      if (wide > width) problems.push(`${name} at ${width} px is ${wide} px wide: it scrolls sideways`)
    }
    await step(`the ${name} page has no serious or critical axe-core violation`, () => assertAccessible(page))
  }

  /** The API called from outside the page (as curl or another tab would), with the browser's session. */
  const api = async (method, path, body) => {
    const outside = page.context().request
    const { csrfToken } = await (await outside.get(`${url}/api/me`)).json()
    const response = await outside.fetch(`${url}${path}`, { method, headers: { 'X-CSRF-Token': csrfToken }, data: body })
    return { status: response.status(), body: response.status() === 204 ? null : await response.json() }
  }

  await step('a signed-out visit to a bot page leads to sign-in', async () => {
    await page.goto(`${url}/app/bots/${bot}?range=24h`)
    await page.waitForURL((address) => address.pathname === '/sign-in')
    await shots('sign-in')
    signedIn = true
    await page.getByRole('button', { name: 'Sign in as the local developer' }).click()
  })

  await step('after signing in, the browser is back on that bot page', async () => {
    await page.waitForURL((address) => address.pathname === `/app/bots/${bot}` && address.search === '?range=24h')
    await page.getByRole('heading', { level: 1, name: bot }).waitFor()
    await page.getByText('Signed in as Local developer').waitFor()
  })

  /** Where a chart's canvas holds pixels of a colour (canvas.mjs). */
  const inkIn = (test, colour) => page.locator(`[data-test="${test}"] canvas`).evaluate(ink, colour)

  await step('the bot page charts paint the reposts, the candidates and the rejections by reason, each told in words', async () => {
    const labels = {
      'chart-reposted': /^[1-9]\d* reposts? in the last 24 hours$/,
      'chart-candidates': /^[1-9]\d* candidates? in the last 24 hours$/,
      'chart-rejected': /^(One|[1-9]\d*) candidates? rejected in the last 24 hours: The bot's own post: [1-9]\d*$/,
    }
    for (const [test, pattern] of Object.entries(labels)) {
      const label = await page.locator(`[data-test="${test}"] canvas`).getAttribute('aria-label')
      if (!pattern.test(label ?? '')) throw new Error(`${test} is labelled ${label}`)
    }
    // Each area is drawn in its colour; one that rises (not flat at zero) covers many rows.
    for (const [test, colour] of [['chart-reposted', '--va-primary'], ['chart-candidates', '--va-info']]) {
      const { rows } = await inkIn(test, colour)
      if (rows < 20) throw new Error(`the line of ${test} covers ${rows} rows of the canvas`)
    }
    const rejected = await page.locator('[data-test="chart-rejected"] canvas').evaluate((element) => {
      const pixels = element.getContext('2d').getImageData(0, 0, element.width, element.height).data
      let coloured = 0 // pixels neither grey nor white: the stacked areas, not the axes or the text
      for (let i = 0; i < pixels.length; i += 4) if (pixels[i + 3] > 0 && Math.max(pixels[i], pixels[i + 1], pixels[i + 2]) - Math.min(pixels[i], pixels[i + 1], pixels[i + 2]) > 40) coloured += 1
      return coloured
    })
    if (rejected < 200) throw new Error(`the rejections chart paints ${rejected} coloured pixels`)
    const totals = await page.locator('[data-test="activity-totals"] tbody tr').allTextContents()
    if (!totals.some((row) => /^Rejected: The bot's own post[1-9]/.test(row))) throw new Error(`the totals table says ${totals}`)
  })

  await step('at 360 px every big total is drawn whole, inside its chart', async () => {
    await page.setViewportSize({ width: 360, height: 900 })
    await redrawn()
    const text = await page.evaluate(() => {
      const probe = document.createElement('span')
      probe.style.color = 'var(--va-text-primary)'
      document.body.append(probe)
      const [r, g, b] = getComputedStyle(probe).color.match(/\d+/g).map(Number)
      probe.remove()
      return `#${[r, g, b].map((c) => c.toString(16).padStart(2, '0')).join('')}`
    })
    for (const test of ['chart-reposted', 'chart-candidates', 'chart-rejected']) {
      const { rows, left, right, top, width, ratio } = await inkIn(test, text)
      // The total and its caption: several lines of text, clear of the canvas's edges (clipped text runs into them).
      if (rows < 20 || left < 2 * ratio || top < 2 * ratio || right > width - 40 * ratio) throw new Error(`${test}'s total at 360 px: ${JSON.stringify({ rows, left, right, top, width })}`)
    }
    await page.setViewportSize({ width: 1280, height: 900 })
  })

  await step('the range switch reads 7 days into the address, and a reload keeps it', async () => {
    const asked = page.waitForResponse((response) => response.url().includes(`/api/bots/${bot}/stats?range=7d`) && response.ok())
    await page.locator('[data-test="range"]').getByRole('button', { name: '7 days' }).click()
    await asked
    await page.waitForURL((address) => address.searchParams.get('range') === '7d')
    const reposts = page.locator('[data-test="chart-reposted"] canvas[aria-label$="in the last 7 days"]')
    await reposts.waitFor()
    await page.reload()
    await reposts.waitFor()
    const pressed = await page.locator('[data-test="range"] button[aria-pressed="true"]').allTextContents()
    if (pressed.map((words) => words.trim()).join() !== '7 days') throw new Error(`after a reload the switch shows ${pressed}`)
    await page.locator('[data-test="range"]').getByRole('button', { name: '24 hours' }).click()
    await page.locator('[data-test="chart-reposted"] canvas[aria-label$="in the last 24 hours"]').waitFor()
  })

  await shots('bot')

  await step('the runs table lists the run', async () => {
    await page.locator('[data-test="runs"] tbody tr').filter({ hasText: 'succeeded' }).first().waitFor()
  })

  await step('preview lists the posts the bot skips, with their reasons in words, as post cards', async () => {
    const runs = '[data-test="runs"] tbody tr'
    const before = await page.locator(runs).count()
    const posted = page.waitForResponse((response) => response.request().method() === 'POST' && new URL(response.url()).pathname === `/api/bots/${bot}/preview`)
    await page.locator('[data-test="preview-start"]').click()
    const { job } = await (await posted).json()
    // Until the run is collected, the app's GET of it is a 404: expected, those before this line too.
    const notYet = `404 GET /api/bots/${bot}/runs/${job}`
    refusals.add(notYet)
    problems.splice(0, problems.length, ...problems.filter((problem) => problem !== notYet))
    const skipped = page.locator('[data-test="skipped"] [data-test="post-card"]')
    await skipped.filter({ hasText: 'A reply' }).waitFor({ timeout: 60_000 })
    const card = skipped.filter({ hasText: 'The hashtag is only in the text, not tagged' })
    const excerpt = (await card.locator('[data-test="post-excerpt"]').textContent()).trim()
    if (!excerpt.startsWith('<img src=x onerror="window.pwned=1"> <b>#')) throw new Error(`excerpt ${excerpt}`)
    if ((await card.locator('img, b').count()) || (await page.evaluate(() => window.pwned))) throw new Error('a post was rendered as HTML')
    await page.locator('[data-test="would-repost"]', { hasText: 'Nothing new to repost.' }).waitFor()
    const link = card.locator('[data-test="post-link"]')
    if ((await link.getAttribute('target')) !== '_blank' || (await link.getAttribute('rel')) !== 'noopener noreferrer') throw new Error('the link does not open safely')
    // It leads to the local AppView's view of that post.
    const shown = await page.context().request.get(await link.getAttribute('href'))
    const { post } = (await shown.json()).thread
    if (post.record.text !== excerpt) throw new Error(`the link shows ${JSON.stringify(post.record.text)}`)
    // The page settles: the runs table shows the preview, a dry run.
    await page.waitForFunction(([runs, count]) => document.querySelectorAll(runs).length === count, [runs, before + 1])
    await page.locator(runs).filter({ hasText: 'dry run' }).first().waitFor()
  })

  await shots('preview')

  await step('closing the preview', async () => {
    await page.locator('[data-test="preview-close"]').click()
    await page.waitForFunction(() => document.querySelector('[data-test="preview"]') === null)
  })

  await step('a run started from outside the page shows up on the open bot page, without a reload', async () => {
    const rows = '[data-test="runs"] tbody tr'
    const before = await page.locator(rows).count()
    await page.evaluate(() => (window.notReloaded = true))
    const started = await api('POST', `/api/bots/${bot}/run`)
    if (started.status !== 202) throw new Error(`run now from outside: ${started.status}`)
    await page.waitForFunction(([rows, count]) => document.querySelectorAll(rows).length === count, [rows, before + 1], { timeout: 60_000 })
    await page.locator('header [data-test="last-run"]', { hasText: '0 reposted' }).waitFor()
    if (!(await page.evaluate(() => window.notReloaded))) throw new Error('the page was reloaded')
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
    // Its small chart: the hour of the run stands above the others (the line is not flat).
    const heights = new Set((await row.locator('[data-test="sparkline"] polyline').getAttribute('points')).split(' ').map((point) => point.split(',')[1]))
    if (heights.size < 2) throw new Error('the sparkline of the reposts is flat')
    await row.locator('[data-test="next-run"]', { hasText: /^in \d+ (second|minute|hour|day)s?$/ }).waitFor()
  })

  await step('the overview shows a pause and a resume made from outside the page, without a reload', async () => {
    const state = page.locator(`tr[data-bot="${bot}"] [data-test="state"]`)
    if ((await api('POST', `/api/bots/${bot}/pause`)).status !== 200) throw new Error('pause from outside')
    await state.filter({ hasText: 'Paused' }).waitFor()
    if ((await api('POST', `/api/bots/${bot}/resume`)).status !== 200) throw new Error('resume from outside')
    await state.filter({ hasText: /^(Running|Starting)$/ }).waitFor()
  })

  await shots('overview')

  /** A form input by the field it edits (Vuestic puts the attribute on the input or around it). */
  const input = (field) => page.locator(`input[data-field="${field}"], [data-field="${field}"] input, textarea[data-field="${field}"], [data-field="${field}"] textarea`).first()

  await step('creating a bot through the form: a bad hashtag is shown at its field as the user leaves it, and not sent', async () => {
    await page.locator('[data-test="create"]').click()
    await page.waitForURL((address) => address.pathname === '/app/new')
    await input('name').fill('form-bot')
    await input('handle').fill(handle)
    await input('service').fill(service)
    await input('appPassword').fill(password)
    const hashtag = input('sources.0.value')
    const said = page.getByText("Not a hashtag: leave out the '#', and no spaces.")
    await hashtag.fill('two words')
    if (await said.count()) throw new Error('the problem shows before the user left the field')
    await hashtag.press('Tab')
    await said.waitFor()
    if ((await hashtag.getAttribute('aria-invalid')) !== 'true') throw new Error('the hashtag input is not marked invalid')
    let sent = 0
    const count = (request) => (sent += request.method() === 'POST' && new URL(request.url()).pathname === '/api/bots' ? 1 : 0)
    page.on('request', count)
    await input('description').focus()
    await page.keyboard.press('Enter') // submits the form, from the keyboard
    await page.waitForFunction((input) => document.activeElement === input, await hashtag.elementHandle())
    page.off('request', count)
    if (sent) throw new Error('the form sent a body it knew was invalid')
  })
  await shots('form')

  await step("Vuestic's icons (the ticks, the field's warning sign) draw as one glyph each, not as their names", async () => {
    await page.waitForFunction(() => [...document.fonts].some((font) => font.family.includes('Material Icons') && font.status === 'loaded'))
    const icons = await page.locator('i.va-icon').evaluateAll((elements) =>
      elements.filter((element) => element.checkVisibility() && element.textContent.trim()).map((element) => ({
        name: element.textContent.trim(),
        width: element.getBoundingClientRect().width,
        size: parseFloat(getComputedStyle(element).fontSize),
      })),
    )
    if (icons.length < 2) throw new Error(`${icons.length} icons shown`)
    const spelled = icons.filter((icon) => icon.width > icon.size * 1.5)
    if (spelled.length) throw new Error(`drawn as letters: ${JSON.stringify(spelled)}`)
  })

  await step('what only the API knows (a word both included and excluded) is shown at its field, nothing is made', async () => {
    refusals.add('422 POST /api/bots').add('404 GET /api/bots/form-bot')
    await input('sources.0.value').fill(tag)
    await input('includeWords').fill('k8s')
    await input('excludeWords').fill('k8s')
    await page.locator('[data-test="save"]').click()
    await page.getByText('a word cannot be both included and excluded: k8s').waitFor()
    if ((await input('includeWords').getAttribute('aria-invalid')) !== 'true') throw new Error('the words input is not marked invalid')
    const made = await api('GET', '/api/bots/form-bot')
    if (made.status !== 404) throw new Error(`the refused bot exists: ${made.status}`)
  })

  await step('a name already taken is said at the name, nothing is made', async () => {
    refusals.add('409 POST /api/bots')
    await input('includeWords').fill('')
    await input('name').fill(bot)
    await page.locator('[data-test="save"]').click()
    await page.getByText(`You already have a bot named '${bot}'.`).waitFor()
    if ((await input('name').getAttribute('aria-invalid')) !== 'true') throw new Error('the name input is not marked invalid')
  })

  await step('fixed, the bot is made and its page opens', async () => {
    await input('name').fill('form-bot')
    await page.locator('[data-test="save"]').click()
    await page.waitForURL((address) => address.pathname === '/app/bots/form-bot')
    await page.getByRole('heading', { level: 1, name: 'form-bot' }).waitFor()
    const made = await api('GET', '/api/bots/form-bot')
    const source = made.body.spec.sources[0]
    const labels = made.body.spec.filters.excludeLabels
    if (source.tag !== tag || made.body.spec.dryRun !== true || !labels.includes('porn')) throw new Error(`made ${JSON.stringify(made.body.spec)}`)
  })

  await step('an edit that crosses a change made elsewhere offers a reload, then saves', async () => {
    refusals.add('409 PATCH /api/bots/form-bot')
    await page.locator('[data-test="edit"]').click()
    await page.waitForURL((address) => address.pathname === '/app/bots/form-bot/edit')
    await input('description').fill('from the form')
    const current = await api('GET', '/api/bots/form-bot')
    const elsewhere = await api('PATCH', '/api/bots/form-bot', { resourceVersion: current.body.resourceVersion, spec: { description: 'changed elsewhere' } })
    if (elsewhere.status !== 200) throw new Error(`the change elsewhere: ${elsewhere.status}`)
    await page.locator('[data-test="save"]').click()
    await page.locator('[data-test="conflict"]').waitFor()
    // The reload's read is held: meanwhile the offer stays and the old version takes no typing.
    let release
    const held = new Promise((resolve) => (release = resolve))
    const hold = async (route) => {
      if (route.request().method() === 'GET') await held
      await route.continue()
    }
    await page.route('**/api/bots/form-bot', hold)
    const reading = page.waitForRequest((request) => request.method() === 'GET' && new URL(request.url()).pathname === '/api/bots/form-bot')
    await page.locator('[data-test="reload"]').click()
    await reading
    if (!(await page.locator('[data-test="conflict"]').isVisible())) throw new Error('the offer to reload went before the reload came')
    if (await input('description').evaluate((field) => (field.focus(), document.activeElement === field))) throw new Error('the form took the focus while it was being replaced')
    release()
    await page.locator('[data-test="conflict"]').waitFor({ state: 'detached' })
    await page.unroute('**/api/bots/form-bot', hold)
    if ((await input('description').inputValue()) !== 'changed elsewhere') throw new Error('the reload did not show the change')
    await input('description').fill('edited')
    await page.locator('[data-test="save"]').click()
    await page.waitForURL((address) => address.pathname === '/app/bots/form-bot')
    const saved = await api('GET', '/api/bots/form-bot')
    if (saved.body.spec.description !== 'edited' || saved.body.spec.sources[0].tag !== tag) throw new Error(`saved ${JSON.stringify(saved.body.spec)}`)
  })

  await step('the bot page reads its schedule in words, with the next three runs', async () => {
    await page.locator('[data-test="schedule-words"]', { hasText: /^Runs (every|at) / }).waitFor()
    const runs = await page.locator('[data-test="next-runs"] li').count()
    if (runs !== 3) throw new Error(`${runs} next runs shown`)
  })

  await step('delete asks for the name, then the bot is gone and the overview no longer lists it', async () => {
    refusals.add('404 GET /api/bots/form-bot')
    await page.locator('[data-test="delete"]').click()
    const confirm = page.locator('[data-test="delete-confirm"]')
    const name = page.locator('[data-test="delete-name"] input')
    await name.fill('form-bo')
    if (!(await confirm.isDisabled())) throw new Error('delete is enabled before the name matches')
    await name.fill('form-bot')
    await confirm.click()
    await page.waitForURL((address) => address.pathname === '/app/')
    await page.locator(`tr[data-bot="${bot}"]`).waitFor()
    if (await page.locator('tr[data-bot="form-bot"]').count()) throw new Error('the overview still lists the deleted bot')
    const gone = await api('GET', '/api/bots/form-bot')
    if (gone.status !== 404) throw new Error(`the deleted bot answers ${gone.status}`)
  })

  await step('a bot that does not exist: a page that says so in words, and the way back', async () => {
    for (const path of ['', '/stats', '/runs']) refusals.add(`404 GET /api/bots/no-such-bot${path}`)
    await page.goto(`${url}/app/bots/no-such-bot`)
    await page.getByRole('heading', { level: 1, name: 'no-such-bot' }).waitFor()
    await page.getByRole('alert').filter({ hasText: 'It is not there: it may have been deleted, or the address is mistyped.' }).waitFor()
    await shots('not-found-bot')
    await page.locator('[data-test="to-overview"]', { hasText: 'Back to your bots' }).click()
    await page.locator(`tr[data-bot="${bot}"]`).waitFor()
  })

  // tests/test_web_app.py gives this bot 40 runs of the last day, two failed and one rate-limited.
  const history = 'history-bot'
  await step('a bot with a day of runs has its failed and rate-limited runs marked on the time axis', async () => {
    await page.locator(`tr[data-bot="${history}"] a`).first().click()
    await page.waitForURL((address) => address.pathname === `/app/bots/${history}`)
    await page.locator('[data-test="marks-legend"]', { hasText: 'runs failed' }).filter({ hasText: 'rate limit' }).waitFor()
    const totals = await page.locator('[data-test="activity-totals"] tbody tr').allTextContents()
    if (!totals.includes('Failed runs2') || !totals.includes('Rate-limited runs1')) throw new Error(`the totals table says ${totals}`)
    await redrawn()
    const { rows } = await inkIn('chart-reposted', '--va-warning') // the rate-limited run's dashed line, top to bottom
    if (rows < 40) throw new Error(`the rate-limited mark covers ${rows} rows of the reposts chart`)
  })
  await shots('bot-history')

  await step('its runs table pages with the keyboard, through the API\'s cursor, to the end', async () => {
    const rows = page.locator('[data-test="runs"] tbody tr')
    await page.waitForFunction(() => document.querySelectorAll('[data-test="runs"] tbody tr').length === 25)
    const older = page.locator('[data-test="runs-more"]')
    await older.focus()
    await page.keyboard.press('Enter')
    await page.locator('[data-test="runs-end"]').waitFor()
    if ((await rows.count()) !== 40) throw new Error(`${await rows.count()} runs shown after the second page`)
    const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-test'))
    if (focused !== 'runs-end') throw new Error(`the focus is on ${focused}, not the line that says these are all`)
    const jobs = await rows.locator('td:first-child').allTextContents()
    if (new Set(jobs).size !== 40) throw new Error('a run is shown twice')
  })

  await step('the account page shows who is signed in, saves a mail switch and downloads the bots as YAML', async () => {
    await page.locator('[data-test="account"]').click()
    await page.getByRole('heading', { level: 1, name: 'Your account' }).waitFor()
    await page.locator('[data-test="account-who"]', { hasText: 'developer@localhost' }).waitFor()
    const failing = page.getByRole('switch', { name: "When a bot's runs keep failing" })
    if ((await failing.getAttribute('aria-checked')) !== 'true') throw new Error('a mail is off before anyone turned it off')
    await page.locator('[data-test="mail-botFailing"] .va-switch__inner').click()
    await page.locator('[data-test="mail-status"]', { hasText: 'Saved.' }).waitFor()
    const kept = await api('GET', '/api/account/mail')
    if (kept.body.botFailing !== false || kept.body.credentialsRejected !== true) throw new Error(`kept ${JSON.stringify(kept.body)}`)
    await page.reload()
    await page.locator('[data-test="mail-botFailing"]').waitFor()
    if ((await failing.getAttribute('aria-checked')) !== 'false') throw new Error('the switch is on again after a reload')
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('[data-test="export"]').click()])
    const stream = await download.createReadStream()
    let yaml = ''
    for await (const chunk of stream) yaml += chunk
    if (!/^kind: Bot$/m.test(yaml) || !yaml.includes(`app.kubernetes.io/instance: ${bot}`)) throw new Error(`the download: ${yaml.slice(0, 300)}`)
    if (yaml.includes(password) || /^status:/m.test(yaml)) throw new Error('the download carries a password or a status')
    await shots('account')
  })

  await step('an unknown address in the app shows the not-found page', async () => {
    await page.goto(`${url}/app/no/such/page`)
    await page.getByRole('heading', { level: 1, name: 'There is no page at this address.' }).waitFor()
  })
  await shots('not-found')

  /** Presses Tab until the focus is in `locator` (it fails when a whole round of the page never gets there). */
  const tabTo = async (locator) => {
    for (let presses = 0; presses < 200; presses++) {
      await page.keyboard.press('Tab')
      if (await locator.evaluate((element) => element.contains(document.activeElement))) return
    }
    throw new Error(`Tab never reaches ${locator}`)
  }
  /** Tab goes round the page: every visible, enabled control in `scope` takes the focus on the way. */
  const everyControlTabbable = async (scope) => {
    const controls = 'a[href], button:not([disabled]), input:not([disabled]):not([type="hidden"]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])'
    const count = await page.evaluate(([scope, controls]) => {
      const visible = [...document.querySelectorAll(`${scope} :is(${controls})`)].filter((element) => element.checkVisibility({ visibilityProperty: true }))
      visible.forEach((element, n) => element.setAttribute('data-control', String(n)))
      return visible.length
    }, [scope, controls])
    const reached = new Set()
    for (let presses = 0; presses < count * 3 + 20 && reached.size < count; presses++) {
      await page.keyboard.press('Tab')
      const at = await page.evaluate(() => document.activeElement?.closest('[data-control]')?.getAttribute('data-control'))
      if (at !== undefined && at !== null) reached.add(at)
    }
    const missed = await page.evaluate((reached) =>
      [...document.querySelectorAll('[data-control]')].filter((element) => !reached.includes(element.getAttribute('data-control'))).map((element) => element.outerHTML.slice(0, 120)), [...reached])
    if (missed.length) throw new Error(`Tab never reaches:\n  ${missed.join('\n  ')}`)
  }

  await step('the bot with a day of runs is deleted from outside, so that the keyboard walk ends on an empty overview', async () => {
    const deleted = await api('DELETE', `/api/bots/${history}`)
    if (deleted.status !== 204) throw new Error(`deleting ${history}: ${deleted.status}`)
  })

  await step('keyboard alone: every action of the bot page is reached with Tab and works with Enter or Space', async () => {
    await page.goto(`${url}/app/bots/${bot}`)
    await page.getByRole('heading', { level: 1, name: bot }).waitFor()
    await everyControlTabbable('main')
    const week = page.locator('[data-test="range"] button', { hasText: '7 days' })
    await tabTo(week)
    const weekly = page.waitForResponse((response) => new URL(response.url()).searchParams.get('range') === '7d')
    await page.keyboard.press('Enter')
    await weekly
    await tabTo(page.locator('[data-test="pause"]'))
    await page.keyboard.press('Enter')
    await page.locator('h1 [data-test="state"]', { hasText: 'Paused' }).waitFor()
    await tabTo(page.locator('[data-test="resume"]'))
    await page.keyboard.press('Space')
    await page.locator('[data-test="pause"]').waitFor()
    const rows = '[data-test="runs"] tbody tr'
    const before = await page.locator(rows).count()
    await tabTo(page.locator('[data-test="run"]'))
    await page.keyboard.press('Enter')
    await page.locator('[data-test="run-started"]').waitFor()
    await page.waitForFunction(([rows, count]) => document.querySelectorAll(rows).length === count, [rows, before + 1], { timeout: 60_000 })
  })

  await step('keyboard alone: the form is reached field by field with Tab, a checkbox turns with Space, Enter saves', async () => {
    const dryRun = (await api('GET', `/api/bots/${bot}`)).body.spec.dryRun
    await tabTo(page.locator('[data-test="edit"]'))
    await page.keyboard.press('Enter')
    await page.waitForURL((address) => address.pathname === `/app/bots/${bot}/edit`)
    await input('description').waitFor()
    await everyControlTabbable('main form')
    await tabTo(input('description'))
    await page.keyboard.press('Control+A')
    await page.keyboard.type('typed with the keyboard')
    await tabTo(input('dryRun'))
    await page.keyboard.press('Space')
    await tabTo(page.locator('[data-test="save"]'))
    await page.keyboard.press('Enter')
    await page.waitForURL((address) => address.pathname === `/app/bots/${bot}`)
    const saved = (await api('GET', `/api/bots/${bot}`)).body.spec
    if (saved.description !== 'typed with the keyboard' || saved.dryRun === dryRun) throw new Error(`saved ${JSON.stringify(saved)}`)
  })

  await step('keyboard alone: delete, its name typed in the dialog, then the overview says how to start', async () => {
    await page.getByRole('heading', { level: 1, name: bot }).waitFor()
    await tabTo(page.locator('[data-test="delete"]'))
    await page.keyboard.press('Enter')
    await page.locator('[data-test="delete-name"] input').waitFor()
    await page.waitForFunction(() => !document.querySelector('[class*="va-modal-enter"]')) // faded in
    await assertAccessible(page) // the page with its dialog open
    await tabTo(page.locator('[data-test="delete-name"] input'))
    await page.keyboard.type(bot)
    await tabTo(page.locator('[data-test="delete-confirm"]'))
    await page.keyboard.press('Enter')
    await page.waitForURL((address) => address.pathname === '/app/')
    await page.locator('[data-test="empty"]').waitFor()
  })
  await shots('overview-empty')

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
    await page.locator('[data-test="theme-track"]').click()
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

  // Last: it deletes everything of the signed-in user, which every step before needs.
  await step('deleting the account asks for the email, then the site shows its signed-out page', async () => {
    await page.goto(`${url}/app/account`)
    await page.waitForURL((address) => address.pathname === '/sign-in')
    signedIn = true
    await page.getByRole('button', { name: 'Sign in as the local developer' }).click()
    await page.waitForURL((address) => address.pathname === '/app/account')
    const confirm = page.locator('[data-test="delete-account-confirm"]')
    const email = page.locator('[data-test="delete-email"] input')
    await email.fill('developer@localhos')
    if (!(await confirm.isDisabled())) throw new Error('delete is enabled before the email matches')
    await email.fill('developer@localhost')
    signedIn = false
    await confirm.click()
    await page.waitForURL((address) => address.pathname === '/')
    for (const path of ['/api/me', '/api/bots', `/api/bots/${bot}`]) {
      const status = await page.evaluate(async (address) => (await fetch(address)).status, path)
      if (status !== 401) throw new Error(`${path} after deleting the account: ${status}`)
    }
  })

  if (problems.length) throw new Error(problems.join('\n'))
} finally {
  await browser.close()
}
