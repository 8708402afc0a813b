import { describe, expect, it } from 'vitest'
import { fieldOf, formOf, newForm, specOf } from '@/pages/bot-form/form'

describe('the bot form', () => {
  it('turns every field of a spec into the form and back unchanged', () => {
    const spec = {
      description: 'Kubernetes news',
      account: { handle: 'k8s-news.bsky.social', service: 'https://pds.example.com' },
      schedule: '*/10 * * * *',
      timeZone: 'Europe/Berlin',
      dryRun: false,
      suspend: true,
      sources: [
        { type: 'hashtag' as const, tag: 'kubernetes', maxPages: 2 },
        { type: 'search' as const, query: 'kubectl', maxPages: 3 },
        { type: 'mentions' as const, maxPages: 1 },
        { type: 'author' as const, actor: 'did:plc:abc', maxPages: 3 },
        { type: 'list' as const, list: 'at://did:plc:abc/app.bsky.graph.list/1', maxPages: 3 },
        { type: 'feed' as const, feed: 'at://did:plc:abc/app.bsky.feed.generator/k8s', maxPages: 3 },
      ],
      filters: {
        languages: ['en', 'de'],
        postsWithoutLanguage: 'exclude' as const,
        includeWords: ['k8s'],
        excludeWords: ['crypto', 'nft'],
        includePatterns: ['^release'],
        excludePatterns: ['giveaway'],
        includeHashtags: ['cncf'],
        excludeHashtags: ['ad'],
        excludeReplies: false,
        excludeQuotes: true,
        excludeReposts: false,
        excludeSelf: false,
        minLikes: 5,
        maxAge: '6h',
        excludeLabels: ['porn'],
        authors: { allow: ['alice.test'], deny: ['spam.test'] },
      },
      limits: { perRun: 5, perHour: 20, perDay: 100 },
    }
    expect(specOf(formOf('news', spec))).toEqual(spec)
  })

  it('reads lists typed one a line or comma-separated, and sends an empty time zone as none', () => {
    const form = newForm()
    form.lists.excludeWords = 'crypto, nft\n\n  airdrop '
    form.sources = [{ type: 'hashtag', value: ' python ', maxPages: 3 }]
    const spec = specOf(form)
    expect(spec.filters?.excludeWords).toEqual(['crypto', 'nft', 'airdrop'])
    expect(spec.sources).toEqual([{ type: 'hashtag', tag: 'python', maxPages: 3 }])
    expect(spec.timeZone).toBeNull()
  })

  it('leaves a new bot with no labels typed to the platform\'s default labels; an edit may clear them', () => {
    const form = newForm()
    expect(specOf(form, true).filters).not.toHaveProperty('excludeLabels')
    expect(specOf(form).filters?.excludeLabels).toEqual([])
    form.lists.excludeLabels = 'porn'
    expect(specOf(form, true).filters?.excludeLabels).toEqual(['porn'])
  })

  it.each([
    ['spec.sources[0].tag', 'sources.0.value'],
    ['spec.sources[2].maxPages', 'sources.2.maxPages'],
    ['spec.sources', 'sources'],
    ['spec.account.handle', 'handle'],
    ['spec.filters.includeWords[1]', 'includeWords'],
    ['spec.filters.authors.deny[0]', 'authorsDeny'],
    ['spec.limits.perRun', 'perRun'],
    ['spec.schedule', 'schedule'],
    ['appPassword', 'appPassword'],
    ['name', 'name'],
    ['spec', null],
    ['spec.account.credentialsSecretRef', null],
  ])('shows the API\'s problem with %s at %s', (path, field) => {
    expect(fieldOf(path)).toBe(field)
  })
})
