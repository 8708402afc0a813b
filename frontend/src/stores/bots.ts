/** The signed-in user's bots, as the API last showed them, and what can be done to one. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api } from '@/api'
import { data, fresh, type Api, type BotView } from '@/api/client'

export type BotAction = 'pause' | 'resume'

/** Which run the bot last finished: when it changes, its runs and stats have something new. */
export function lastRunOf(bot: BotView | undefined): string | undefined {
  return bot?.status.lastRun?.job
}

/**
 * The store's state and actions on a client. Reads send the ETag of what the store holds
 * (If-None-Match), so a poll of unchanged bots is a 304 that changes nothing here.
 */
export function botsStore(client: Api) {
  return () => {
    const bots = ref<Record<string, BotView>>({})
    const listed = ref<string[]>([])
    let listTag: string | null = null
    const botTags: Record<string, string> = {}

    function remember(bot: BotView, etag: string | null = null): BotView {
      bots.value[bot.name] = bot
      if (etag) botTags[bot.name] = etag
      else delete botTags[bot.name] // a write's answer: the next read fetches the bot whole
      return bot
    }

    function forget(name: string): void {
      delete bots.value[name]
      delete botTags[name]
      listed.value = listed.value.filter((listedName) => listedName !== name)
    }

    async function loadAll(): Promise<BotView[]> {
      const header = listTag && listed.value.every((name) => bots.value[name]) ? { 'if-none-match': listTag } : undefined
      const answer = await fresh(client.GET('/api/bots', { params: { header } }))
      if (!answer.unchanged) {
        answer.data.forEach((bot) => remember(bot))
        listed.value.filter((name) => !answer.data.some((bot) => bot.name === name)).forEach(forget)
        listed.value = answer.data.map((bot) => bot.name)
        listTag = answer.etag
      }
      return listed.value.map((name) => bots.value[name]!)
    }

    async function load(name: string): Promise<BotView> {
      const tag = botTags[name]
      const header = tag && bots.value[name] ? { 'if-none-match': tag } : undefined
      const answer = await fresh(client.GET('/api/bots/{name}', { params: { path: { name }, header } }))
      return answer.unchanged ? bots.value[name]! : remember(answer.data, answer.etag)
    }

    async function act(name: string, action: BotAction): Promise<BotView> {
      const params = { params: { path: { name } } }
      const answer = action === 'pause' ? client.POST('/api/bots/{name}/pause', params) : client.POST('/api/bots/{name}/resume', params)
      return remember((await data(answer)) as BotView)
    }

    async function runNow(name: string): Promise<string> {
      return (await data(client.POST('/api/bots/{name}/run', { params: { path: { name } } }))).job
    }

    async function remove(name: string): Promise<void> {
      await data(client.DELETE('/api/bots/{name}', { params: { path: { name } } }))
      forget(name)
    }

    return { bots, listed, loadAll, load, act, runNow, remove }
  }
}

export const useBotsStore = defineStore('bots', botsStore(api))
