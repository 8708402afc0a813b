/** The signed-in user's bots, as the API last showed them, and what can be done to one. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api } from '@/api'
import { data, type BotView } from '@/api/client'

export type BotAction = 'pause' | 'resume'

export const useBotsStore = defineStore('bots', () => {
  const bots = ref<Record<string, BotView>>({})
  const listed = ref<string[]>([])

  function remember(bot: BotView): BotView {
    bots.value[bot.name] = bot
    return bot
  }

  async function loadAll(): Promise<BotView[]> {
    const all = await data(api.GET('/api/bots'))
    all.forEach(remember)
    listed.value = all.map((bot) => bot.name)
    return all
  }

  async function load(name: string): Promise<BotView> {
    return remember(await data(api.GET('/api/bots/{name}', { params: { path: { name } } })))
  }

  async function act(name: string, action: BotAction): Promise<BotView> {
    const params = { params: { path: { name } } }
    const answer = action === 'pause' ? api.POST('/api/bots/{name}/pause', params) : api.POST('/api/bots/{name}/resume', params)
    return remember((await data(answer)) as BotView)
  }

  async function runNow(name: string): Promise<string> {
    return (await data(api.POST('/api/bots/{name}/run', { params: { path: { name } } }))).job
  }

  async function remove(name: string): Promise<void> {
    await data(api.DELETE('/api/bots/{name}', { params: { path: { name } } }))
    delete bots.value[name]
    listed.value = listed.value.filter((listedName) => listedName !== name)
  }

  return { bots, listed, loadAll, load, act, runNow, remove }
})
