import { afterEach, describe, expect, it } from 'vitest'
import { VaModal } from 'vuestic-ui'
import DeleteBot from '@/pages/bot/widgets/DeleteBot.vue'
import { mountInApp } from './mount'

afterEach(() => {
  document.body.innerHTML = ''
})

async function opened() {
  const widget = mountInApp(DeleteBot, { name: 'news' }, { attachTo: document.body })
  await widget.find('[data-test="delete"]').trigger('click')
  await new Promise((resolve) => setTimeout(resolve, 0))
  const dialog = () => document.querySelector<HTMLElement>('[data-test="delete-dialog"]')
  const confirm = () => document.querySelector<HTMLButtonElement>('[data-test="delete-confirm"]')!
  const type = async (text: string) => {
    const input = document.querySelector<HTMLInputElement>('[data-test="delete-name"] input')!
    input.value = text
    input.dispatchEvent(new Event('input'))
    await widget.vm.$nextTick()
  }
  return { widget, dialog, confirm, type }
}

describe('deleting a bot', () => {
  it('asks for the bot\'s name and keeps the delete button disabled until it matches exactly', async () => {
    const { widget, dialog, confirm, type } = await opened()
    expect(dialog()?.textContent).toContain('Delete news?')
    expect(dialog()?.textContent).toContain('Type news to confirm')
    for (const wrong of ['', 'new', 'News', 'news ', ' news', 'newsx']) {
      await type(wrong)
      expect(confirm().disabled, JSON.stringify(wrong)).toBe(true)
      confirm().click()
      document.querySelector('[data-test="delete-dialog"] form')!.dispatchEvent(new Event('submit'))
      expect(widget.emitted('confirm')).toBeUndefined()
    }
    await type('news')
    expect(confirm().disabled).toBe(false)
    confirm().click()
    expect(widget.emitted('confirm')).toHaveLength(1)
    await widget.vm.$nextTick()
    expect(widget.findComponent(VaModal).props('modelValue'), 'the modal closes').toBe(false)
  })

  it('starts empty each time it opens', async () => {
    const { widget, confirm, type } = await opened()
    await type('news')
    document.querySelector<HTMLButtonElement>('[data-test="delete-cancel"]')!.click()
    await widget.find('[data-test="delete"]').trigger('click')
    await widget.vm.$nextTick()
    expect(document.querySelector<HTMLInputElement>('[data-test="delete-name"] input')!.value).toBe('')
    expect(confirm().disabled).toBe(true)
  })
})
