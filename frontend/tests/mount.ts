/** Mount a component as the app does: with Vuestic (its components and colours) and the English messages. */
import { mount, type MountingOptions } from '@vue/test-utils'
import type { Component } from 'vue'
import { i18n } from '@/i18n'
import { vuestic } from '@/vuestic.config'

export function mountInApp(component: Component, props: Record<string, unknown>, options: Pick<MountingOptions<unknown>, 'attachTo'> = {}) {
  return mount(component, { ...options, props, global: { plugins: [i18n, vuestic], stubs: { RouterLink: true } } })
}
