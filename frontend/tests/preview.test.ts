import { afterEach, describe, expect, it } from 'vitest'
import { effectScope, nextTick } from 'vue'
import { ApiError, createApi, type PostCard as Card, type RejectedPost, type RunRecord } from '@/api/client'
import { postLink } from '@/lib/postLink'
import { usePreview } from '@/pages/bot/composables/usePreview'
import PostCard from '@/pages/bot/widgets/PostCard.vue'
import PreviewResult from '@/pages/bot/widgets/PreviewResult.vue'
import { mountInApp } from './mount'
import { apiServer, type Answer, type Recorded } from './server'

const BSKY = 'https://bsky.app/profile/{handle}/post/{rkey}'
const LOCAL = 'http://127.0.0.1:2584/xrpc/app.bsky.feed.getPostThread?uri={uri}'
const DID = 'did:plc:abcdefghijklmnopqrstuvwx'
const URI = `at://${DID}/app.bsky.feed.post/3lzzabc123`
const MARKUP = '<img src=x onerror="window.pwned=1"><b>bold</b> <a href="javascript:alert(1)">click</a>'

function card(more: Partial<RejectedPost> = {}): Card {
  return { uri: URI, authorHandle: 'alice.bsky.social', authorName: 'Alice', excerpt: 'hello world', createdAt: '2026-12-01T10:00:00Z', ...more }
}

let server: Awaited<ReturnType<typeof apiServer>> | undefined
afterEach(async () => {
  await server?.close()
  server = undefined
  delete (window as { pwned?: number }).pwned
})

describe('a post card', () => {
  it('says why a post was skipped in words, and shows a code it does not know as it is', () => {
    expect(mountInApp(PostCard, { post: card({ reason: 'language' }), linkTemplate: BSKY }).find('[data-test="reason"]').text()).toBe(
      "Not in one of the bot's languages",
    )
    expect(mountInApp(PostCard, { post: card({ reason: 'not_tagged' }), linkTemplate: BSKY }).text()).toContain('The hashtag is only in the text, not tagged')
    expect(mountInApp(PostCard, { post: card({ reason: 'brand_new' }), linkTemplate: BSKY }).find('[data-test="reason"]').text()).toBe('brand_new')
    expect(mountInApp(PostCard, { post: card(), linkTemplate: BSKY }).find('[data-test="reason"]').exists()).toBe(false)
  })

  it('links the post on bsky.app by handle, or by DID without one, opening safely in a new tab', () => {
    const link = mountInApp(PostCard, { post: card(), linkTemplate: BSKY }).find('a')
    expect(link.attributes('href')).toBe('https://bsky.app/profile/alice.bsky.social/post/3lzzabc123')
    expect(link.attributes('target')).toBe('_blank')
    expect(link.attributes('rel')).toBe('noopener noreferrer')
    expect(link.attributes('aria-label')).toBe('Open post by Alice')
    const noHandle = mountInApp(PostCard, { post: card({ authorHandle: '', authorName: '' }), linkTemplate: BSKY })
    expect(noHandle.find('a').attributes('href')).toBe(`https://bsky.app/profile/${encodeURIComponent(DID)}/post/3lzzabc123`)
    expect(noHandle.find('[data-test="post-author"]').text()).toBe(DID)
    const noName = mountInApp(PostCard, { post: card({ authorName: '' }), linkTemplate: BSKY })
    expect(noName.find('header').text().match(/alice\.bsky\.social/g)).toEqual(['alice.bsky.social'])
    expect(noName.find('[data-test="post-author"]').text()).toBe('@alice.bsky.social')
  })

  it('links the local AppView\'s view of the post in skybots dev, its URI encoded', () => {
    const link = mountInApp(PostCard, { post: card(), linkTemplate: LOCAL }).find('a')
    expect(link.attributes('href')).toBe(`http://127.0.0.1:2584/xrpc/app.bsky.feed.getPostThread?uri=${encodeURIComponent(URI)}`)
  })

  it('shows markup in a post, its name or its handle as text, never as HTML', async () => {
    const shown = mountInApp(PostCard, { post: card({ excerpt: MARKUP, authorName: '<b>Eve</b>', reason: '<i>x</i>' }), linkTemplate: BSKY }, { attachTo: document.body })
    await nextTick()
    expect(shown.find('[data-test="post-excerpt"]').text()).toBe(MARKUP)
    expect(shown.find('[data-test="post-author"]').text()).toBe('<b>Eve</b>')
    expect(shown.find('[data-test="reason"]').text()).toBe('<i>x</i>')
    expect(shown.element.querySelectorAll('img, b, i')).toHaveLength(0)
    expect(shown.findAll('a')).toHaveLength(1) // only the card's own link
    expect((window as { pwned?: number }).pwned).toBeUndefined()
    shown.unmount()
  })

  it.each([
    ['a list, not a post', `at://${DID}/app.bsky.graph.list/3lzz`, BSKY],
    ['not an at:// URI', 'https://evil.example/post/1', BSKY],
    ['a template that is not http(s)', URI, 'javascript:alert(1)//{rkey}'],
  ])('has no link for %s', (_, uri, template) => {
    expect(postLink(template, { uri, authorHandle: 'alice.bsky.social' })).toBeNull()
    expect(mountInApp(PostCard, { post: card({ uri }), linkTemplate: template }).find('a').exists()).toBe(false)
  })

  it('encodes what it fills in, so a value cannot change the link\'s shape', () => {
    expect(postLink('https://example.com/p/{handle}/{rkey}', { uri: URI, authorHandle: 'a/../../b?x=1#y' })).toBe(
      'https://example.com/p/a%2F..%2F..%2Fb%3Fx%3D1%23y/3lzzabc123',
    )
  })
})

function run(more: Partial<RunRecord> = {}): RunRecord {
  return {
    namespace: 'skybots',
    bot: 'news',
    job: 'bot-news-n1',
    outcome: 'succeeded',
    dryRun: true,
    startedAt: '2026-12-01T10:00:00Z',
    finishedAt: '2026-12-01T10:00:03Z',
    reposted: 3,
    rejected: { language: 2, reply: 5 },
    duplicates: 1,
    wouldRepost: [card({ uri: `${URI}1` }), card({ uri: `${URI}2` })],
    rejectedPosts: [card({ uri: `${URI}3`, reason: 'language' }), card({ uri: `${URI}4`, reason: 'reply' })],
    ...more,
  } as RunRecord
}

describe('a preview\'s result', () => {
  it('lists what it would repost and what it skipped, and how many its report left out', () => {
    const shown = mountInApp(PreviewResult, { running: false, result: run(), error: null, linkTemplate: BSKY })
    const would = shown.find('[data-test="would-repost"]')
    const skipped = shown.find('[data-test="skipped"]')
    expect(would.find('h3').text()).toBe('Would repost (3)')
    expect(would.findAll('[data-test="post-card"]')).toHaveLength(2)
    expect(would.find('[data-test="not-shown"]').text()).toContain('1 more not shown')
    expect(skipped.find('h3').text()).toBe('Skipped (7)')
    expect(skipped.findAll('[data-test="reason"]').map((reason) => reason.text())).toEqual(["Not in one of the bot's languages", 'A reply'])
    expect(skipped.find('[data-test="not-shown"]').text()).toContain('5 more not shown')
    expect(shown.text()).toContain('1 matching posts were reposted before')
  })

  it('says so when there is nothing', () => {
    const shown = mountInApp(PreviewResult, { running: false, result: run({ reposted: 0, rejected: {}, duplicates: 0, wouldRepost: [], rejectedPosts: [] }), error: null, linkTemplate: BSKY })
    expect(shown.text()).toContain('Nothing new to repost.')
    expect(shown.text()).toContain('Nothing skipped.')
    expect(shown.find('[data-test="not-shown"]').exists()).toBe(false)
  })

  it.each([
    [409, 'conflict', "A run of 'news' is in progress since 2026-12-01 10:00:00 UTC: wait for it to finish, then try again.", 'a run may be under way'],
    [429, 'tooMany', 'You asked for 10 runs or previews this minute, the most one user may: try again in 40 s.', 'Try again in 40 seconds.'],
  ])('tells the API\'s %i in words, with what the server said', (status, kind, said, words) => {
    const error = new ApiError(status, said, {}, { retryAfter: status === 429 ? 40 : null })
    const problem = mountInApp(PreviewResult, { running: false, result: null, error, linkTemplate: null }).find('[data-test="problem"]')
    expect(problem.attributes('data-kind')).toBe(kind)
    expect(problem.text()).toContain(words)
    expect(problem.text()).toContain(`The server said: ${said}`)
  })

  it('shows that it is running', () => {
    const shown = mountInApp(PreviewResult, { running: true, result: null, error: null, linkTemplate: null })
    expect(shown.find('[data-test="preview-running"]').attributes('role')).toBe('status')
    expect(shown.text()).toContain('Preview running')
  })
})

/** The API's preview: a 202 with its Job, then 404 for the run `pending` times, then the run. */
function previewApi(pending: number, started: Answer = { status: 202, body: { job: 'bot-news-n1' } }) {
  let asked = 0
  return (request: Recorded): Answer => {
    if (request.path === '/api/me') return { status: 200, body: { id: 'u', email: 'e', name: 'n', csrfToken: 't' } }
    if (request.path === '/api/config') return { status: 200, body: { postLink: LOCAL } }
    if (request.path === '/api/bots/news/preview') return started
    if (request.path === '/api/bots/news/runs/bot-news-n1') {
      asked += 1
      return asked <= pending ? { status: 404, body: { detail: 'No collected run (yet).' } } : { status: 200, body: run() }
    }
    return { status: 500, body: { detail: `unexpected ${request.path}` } }
  }
}

async function until(condition: () => boolean): Promise<void> {
  for (let tries = 0; !condition(); tries += 1) {
    if (tries > 200) throw new Error('not in time')
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

describe('starting a preview', () => {
  it('asks for its run until the operator has collected it, then has its cards and where they link', async () => {
    server = await apiServer(previewApi(3))
    const scope = effectScope()
    const preview = scope.run(() => usePreview(() => 'news', createApi({ baseUrl: server!.url, onUnauthorized: () => undefined }), 5))!
    const starting = preview.start()
    await until(() => preview.job.value !== null)
    expect(preview.running.value).toBe(true)
    await starting
    await until(() => preview.result.value !== null)
    expect(preview.running.value).toBe(false)
    expect(preview.result.value?.wouldRepost).toHaveLength(2)
    expect(preview.postLink.value).toBe(LOCAL)
    const runs = server.requests.filter((request) => request.path === '/api/bots/news/runs/bot-news-n1')
    expect(runs).toHaveLength(4)
    expect(server.requests.find((request) => request.method === 'POST')?.path).toBe('/api/bots/news/preview')
    scope.stop()
  })

  it('keeps the API\'s refusal, and asks for no run', async () => {
    server = await apiServer(previewApi(0, { status: 409, body: { detail: "A run of 'news' is in progress." } }))
    const scope = effectScope()
    const preview = scope.run(() => usePreview(() => 'news', createApi({ baseUrl: server!.url, onUnauthorized: () => undefined }), 5))!
    await preview.start()
    expect((preview.error.value as ApiError).status).toBe(409)
    expect(preview.running.value).toBe(false)
    expect(server.requests.some((request) => request.path.includes('/runs/'))).toBe(false)
    scope.stop()
  })

  it('gives up when no run is collected in time, and says so', async () => {
    server = await apiServer(previewApi(1000))
    const scope = effectScope()
    const preview = scope.run(() => usePreview(() => 'news', createApi({ baseUrl: server!.url, onUnauthorized: () => undefined }), 5, 30))!
    await preview.start()
    await until(() => preview.late.value)
    expect(preview.running.value).toBe(false)
    const asked = server.requests.length
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(server.requests.length).toBe(asked)
    const shown = mountInApp(PreviewResult, { running: false, late: true, result: null, error: null, linkTemplate: null })
    expect(shown.find('[data-test="preview-late"]').text()).toContain('has not finished after 15 minutes')
    scope.stop()
  })

  it('stops asking when the page goes', async () => {
    server = await apiServer(previewApi(1000))
    const scope = effectScope()
    const preview = scope.run(() => usePreview(() => 'news', createApi({ baseUrl: server!.url, onUnauthorized: () => undefined }), 5))!
    void preview.start()
    await until(() => server!.requests.filter((request) => request.path.includes('/runs/')).length >= 2)
    scope.stop()
    const asked = server.requests.length
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(server.requests.length).toBeLessThanOrEqual(asked + 1) // at most the one on its way
  })
})
