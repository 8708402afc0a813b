import { afterEach, describe, expect, it } from 'vitest'
import { createApi, data } from '@/api/client'
import ProblemAlert from '@/components/ProblemAlert.vue'
import { mountInApp } from './mount'
import { apiServer, type Answer } from './server'

let server: Awaited<ReturnType<typeof apiServer>> | undefined
afterEach(async () => server?.close())

/** What a read of a bot fails with when the API answers `answer`. */
async function failure(answer: Answer): Promise<unknown> {
  server = await apiServer(() => answer)
  const api = createApi({ baseUrl: server.url, onUnauthorized: () => undefined })
  return data(api.GET('/api/bots/{name}', { params: { path: { name: 'news' } } })).then(
    () => new Error('not refused'),
    (error: unknown) => error,
  )
}

const json = (status: number, detail: unknown, headers: Record<string, string> = {}): Answer => ({ status, body: { detail }, headers })
/** The next steps offered, by name: what each says is in its own test below. */
const steps = (alert: ReturnType<typeof mountInApp>) => alert.findAll('[data-test="problem"] [data-test]').map((step) => step.attributes('data-test'))

describe('a failed request, in words, with what to do next', () => {
  it.each<[string, Answer, string[], string[]]>([
    ['401', json(401, 'Sign in first.'), ['Your session has ended. Sign in again, and you come back to this page.'], ['sign-in']],
    ['403', json(403, 'The CSRF token is missing or wrong.'), ['That is not allowed for your account.', 'The server said: The CSRF token is missing or wrong.'], ['reload-page', 'to-overview']],
    ['404', json(404, "There is no bot named 'news'."), ['It is not there: it may have been deleted, or the address is mistyped.'], ['to-overview']],
    ['409', json(409, "A run of 'news' was started just now: wait for it to finish."), ["That does not fit the bot's state right now", "The server said: A run of 'news' was started just now"], ['reload-page', 'retry']],
    ['413', json(413, 'The request body is over 256 KB, the most this API accepts.'), ['What you sent is larger than the server takes. Shorten the longest lists or texts, then save again.', 'The server said: The request body is over 256 KB'], []],
    ['422', json(422, [{ field: 'spec', message: 'sources must not repeat' }]), ['Something in it is not valid.', 'The server said: spec: sources must not repeat'], []],
    ['429 with Retry-After in seconds', json(429, 'At most 6 run requests a minute.', { 'Retry-After': '42' }), ['That was asked more often than the server allows.', 'Try again in 42 seconds.', 'The server said: At most 6 run requests a minute.'], ['retry']],
    ['429 with Retry-After past a minute', json(429, 'Slow down.', { 'Retry-After': '61' }), ['Try again in 2 minutes.'], ['retry']],
    ['429 with Retry-After as a date', json(429, 'Slow down.', { 'Retry-After': new Date(Date.now() + 3 * 3600_000).toUTCString() }), ['Try again in 3 hours.'], ['retry']],
    ['429 without Retry-After', json(429, 'Slow down.'), ['Wait a moment, then try again.'], ['retry']],
    ['500', { status: 500, body: 'Internal Server Error', type: 'text/plain' }, ['Something went wrong on the server (500). Try again; if it keeps happening, tell the platform\'s operators.'], ['retry']],
    ['502 from a proxy', { status: 502, body: '<html><body>Bad gateway</body></html>', type: 'text/html' }, ['The server is not answering right now (it may be restarting). Try again in a minute.'], ['retry']],
    ['503 with Retry-After', { status: 503, body: 'down', type: 'text/plain', headers: { 'Retry-After': '1' } }, ['The server is not answering right now', 'Try again in one second.'], ['retry']],
    ['504', { status: 504, body: '', type: 'text/plain' }, ['The server is not answering right now'], ['retry']],
  ])('%s', async (_, answer, words, next) => {
    const alert = mountInApp(ProblemAlert, { error: await failure(answer) })
    for (const said of words) expect(alert.text()).toContain(said)
    expect(alert.text()).not.toMatch(/<html|Error|\bat \S+ \(|\.(ts|js):\d+/) // no page of a proxy's, no stack
    expect(steps(alert)).toEqual(next)
  })

  it('a server that is not there: unreachable while online, offline when the browser has no network', async () => {
    server = await apiServer(() => ({ status: 200 }))
    const api = createApi({ baseUrl: server.url, onUnauthorized: () => undefined })
    await server.close()
    server = undefined
    const error = await data(api.GET('/api/bots')).catch((caught: unknown) => caught)
    const online = mountInApp(ProblemAlert, { error })
    expect(online.text()).toContain('The server could not be reached. Check the connection, or try again in a moment.')
    // The browser's own word on its network (jsdom's navigator says online).
    Object.defineProperty(window.navigator, 'onLine', { value: false, configurable: true })
    try {
      const offline = mountInApp(ProblemAlert, { error })
      expect(offline.text()).toContain('This browser is offline. Check the connection, then try again.')
      await offline.find('[data-test="retry"]').trigger('click')
      expect(offline.emitted('retry')).toHaveLength(1)
    } finally {
      delete (window.navigator as { onLine?: boolean }).onLine
    }
    expect(window.navigator.onLine).toBe(true)
  })

  it('a fault of the page itself says so, with a reload, and shows neither its message nor its stack', () => {
    const alert = mountInApp(ProblemAlert, { error: new RangeError('Invalid time value') })
    expect(alert.text()).toContain('Something went wrong in this page. Reload it to go on.')
    expect(alert.text()).not.toContain('Invalid time value')
    expect(steps(alert)).toEqual(['reload-page'])
  })

  it('offers each step in words', () => {
    const alert = mountInApp(ProblemAlert, { error: new TypeError('Failed to fetch') })
    expect(alert.find('[data-test="retry"]').text()).toBe('Try again')
  })

  it('sends a signed-out user to sign-in with this page to come back to', async () => {
    window.history.replaceState(null, '', '/app/bots/news?range=7d')
    const alert = mountInApp(ProblemAlert, { error: await failure(json(401, 'Sign in first.')) })
    expect(alert.find('[data-test="sign-in"]').attributes('href')).toBe('/sign-in?next=%2Fapp%2Fbots%2Fnews%3Frange%3D7d')
  })
})
