import { flushPromises, mount } from '@vue/test-utils'
import { createPinia } from 'pinia'
import { afterEach, describe, expect, it } from 'vitest'
import { createMemoryHistory, createRouter } from 'vue-router'
import { i18n } from '@/i18n'
import BotFormPage from '@/pages/bot-form/BotFormPage.vue'
import { fieldOf, formOf, newForm, specOf } from '@/pages/bot-form/form'
import { vuestic } from '@/vuestic.config'

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

// jsdom has no ResizeObserver (Vuestic's autosized textareas ask for one); nothing here resizes.
globalThis.ResizeObserver ??= class {
  observe() {}
  unobserve() {}
  disconnect() {}
}

describe('the form, checked as the user types', () => {
  afterEach(() => {
    document.body.innerHTML = ''
  })

  async function opened() {
    const router = createRouter({ history: createMemoryHistory(), routes: [{ path: '/:any(.*)*', name: 'overview', component: { render: () => null } }] })
    const page = mount(BotFormPage, { attachTo: document.body, global: { plugins: [i18n, vuestic, createPinia(), router] } })
    const input = (field: string) => page.find<HTMLInputElement>(`input[data-field="${field}"], [data-field="${field}"] input`)
    const type = async (field: string, text: string) => {
      await input(field).setValue(text)
      await flushPromises()
    }
    const leave = async (field: string) => {
      input(field).element.dispatchEvent(new FocusEvent('focusout', { bubbles: true }))
      await flushPromises()
    }
    return { page, input, type, leave }
  }

  const HASHTAG = "Not a hashtag: leave out the '#', and no spaces."

  it('says nothing of a field before the user leaves it, then says it as they type', async () => {
    const { page, type, leave } = await opened()
    await type('sources.0.value', 'two words')
    expect(page.text()).not.toContain(HASHTAG)
    await leave('sources.0.value')
    expect(page.text()).toContain(HASHTAG)
    await type('sources.0.value', 'kubernetes')
    expect(page.text()).not.toContain(HASHTAG)
    await type('sources.0.value', '#kubernetes')
    expect(page.text()).toContain(HASHTAG)
    // The name was never touched: empty, it says nothing yet.
    expect(page.text()).not.toContain('Required.')
  })

  it('sends nothing while a rule fails: every problem shows, and the focus is on the first field with one', async () => {
    const { page, input, type } = await opened()
    await type('handle', 'news.bsky.social')
    await type('sources.0.value', 'two words')
    await page.find('form').trigger('submit')
    await flushPromises()
    expect(page.text()).toContain('Required.') // the name, first in the form
    expect(page.text()).toContain(HASHTAG)
    expect(input('name').attributes('aria-invalid')).toBe('true')
    expect(document.activeElement).toBe(input('name').element)
    // A request sent would have failed here (no API to reach) and said so.
    expect(page.find('[data-test="problem"]').exists()).toBe(false)
  })
})
