// @vitest-environment node
import { afterEach, describe, expect, it } from 'vitest'
import { ApiError, createApi, CSRF_HEADER, data, signInUrl } from '@/api/client'
import { apiServer, type Answer, type Recorded } from './server'

let server: Awaited<ReturnType<typeof apiServer>> | undefined
afterEach(async () => server?.close())

const BOT = { name: 'news', spec: {}, status: {}, resourceVersion: '1' }

function sessions(tokens: string[]) {
  // Each 401 ends a session; the next /api/me belongs to a new one with the next token.
  let session = 0
  return (request: Recorded): Answer => {
    if (request.path === '/api/me') return { status: 200, body: { id: 'u', email: 'e', name: 'n', csrfToken: tokens[session] } }
    if (request.path.startsWith('/api/bots/expired')) {
      session += 1
      return { status: 401, body: { detail: 'Sign in first.' } }
    }
    if (request.method === 'DELETE' || request.path === '/auth/logout') return { status: 204 }
    return { status: 200, body: BOT }
  }
}

async function writeEverything(api: ReturnType<typeof createApi>) {
  const path = { params: { path: { name: 'news' } } }
  await data(api.POST('/api/bots', { body: { name: 'news', appPassword: 'xxxx-xxxx', spec: {} as never } }))
  await data(api.PATCH('/api/bots/{name}', { ...path, body: { resourceVersion: '1', spec: { suspend: true } } }))
  await data(api.POST('/api/bots/{name}/pause', path))
  await data(api.POST('/api/bots/{name}/resume', path))
  await data(api.POST('/api/bots/{name}/run', path))
  await data(api.POST('/api/bots/{name}/preview', path))
  await data(api.DELETE('/api/bots/{name}', path))
  await data(api.PUT('/api/account/mail', { body: { botFailing: false, credentialsRejected: true } }))
  await data(api.DELETE('/api/account', { body: { confirm: 'e' } }))
  await data(api.POST('/auth/logout'))
}

describe('the API client', () => {
  it('sends the CSRF token from /api/me with every write, and with no read', async () => {
    server = await apiServer(sessions(['token-1']))
    const api = createApi({ baseUrl: server.url, onUnauthorized: () => undefined })

    await data(api.GET('/api/bots'))
    await writeEverything(api)
    await data(api.GET('/api/bots/{name}', { params: { path: { name: 'news' } } }))

    const writes = server.requests.filter((request) => request.method !== 'GET')
    expect(writes.map((request) => `${request.method} ${request.path}`)).toEqual([
      'POST /api/bots',
      'PATCH /api/bots/news',
      'POST /api/bots/news/pause',
      'POST /api/bots/news/resume',
      'POST /api/bots/news/run',
      'POST /api/bots/news/preview',
      'DELETE /api/bots/news',
      'PUT /api/account/mail',
      'DELETE /api/account',
      'POST /auth/logout',
    ])
    expect(writes.map((request) => request.headers[CSRF_HEADER.toLowerCase()])).toEqual(Array(10).fill('token-1'))
    const reads = server.requests.filter((request) => request.method === 'GET' && request.path !== '/api/me')
    expect(reads.map((request) => request.headers[CSRF_HEADER.toLowerCase()])).toEqual([undefined, undefined])
    // Asked once, not once a write.
    expect(server.requests.filter((request) => request.path === '/api/me')).toHaveLength(1)
  })

  it('on a 401 sends the user to sign-in, and after it uses the new session\'s token', async () => {
    server = await apiServer(sessions(['old', 'new']))
    let unauthorized = 0
    const api = createApi({ baseUrl: server.url, onUnauthorized: () => (unauthorized += 1) })
    const path = (name: string) => ({ params: { path: { name } } })

    await data(api.POST('/api/bots/{name}/pause', path('news')))
    const refused = await data(api.POST('/api/bots/{name}/pause', path('expired'))).catch((error: unknown) => error)
    await data(api.POST('/api/bots/{name}/resume', path('news')))

    expect(unauthorized).toBe(1)
    expect(refused).toBeInstanceOf(ApiError)
    expect((refused as ApiError).status).toBe(401)
    const tokens = server.requests.filter((r) => r.method === 'POST').map((r) => r.headers[CSRF_HEADER.toLowerCase()])
    expect(tokens).toEqual(['old', 'old', 'new'])
  })

  it('maps a 422 to the fields it names, and any other refusal to its words', async () => {
    const answers: Record<string, Answer> = {
      '/api/bots/invalid': {
        status: 422,
        body: { detail: [{ field: 'spec.schedule', message: 'is not a cron schedule' }, { field: 'spec.sources[0].tag', message: 'is empty' }] },
      },
      '/api/bots/conflict': { status: 409, body: { detail: 'The bot changed since you read it.' } },
      '/api/bots/proxy': { status: 502, body: '<html>Bad gateway</html>', type: 'text/html' },
    }
    server = await apiServer((request) => answers[request.path] ?? { status: 200, body: {} })
    const api = createApi({ baseUrl: server.url, onUnauthorized: () => undefined })
    const get = (name: string) =>
      data(api.GET('/api/bots/{name}', { params: { path: { name } } })).then(
        () => new ApiError(200, 'not refused'),
        (error: unknown) => error as ApiError,
      )

    const invalid = await get('invalid')
    const conflict = await get('conflict')
    const proxy = await get('proxy')

    expect(invalid.status).toBe(422)
    expect(invalid.fields).toEqual({ 'spec.schedule': 'is not a cron schedule', 'spec.sources[0].tag': 'is empty' })
    expect(invalid.message).toBe('spec.schedule: is not a cron schedule')
    expect([conflict.status, conflict.message, conflict.fields]).toEqual([409, 'The bot changed since you read it.', {}])
    expect([proxy.status, proxy.message]).toEqual([502, 'Bad Gateway'])
  })

  it('sends a signed-out user to sign-in with the page to come back to', () => {
    expect(signInUrl('/app/bots/news?range=7d')).toBe('/sign-in?next=%2Fapp%2Fbots%2Fnews%3Frange%3D7d')
  })
})
