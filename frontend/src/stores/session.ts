/** Who is signed in; signing out. */
import { defineStore } from 'pinia'
import { ref } from 'vue'
import { api } from '@/api'
import { data, type Me } from '@/api/client'

export const useSessionStore = defineStore('session', () => {
  const me = ref<Me | null>(null)

  async function load(): Promise<Me> {
    me.value = await data(api.GET('/api/me'))
    return me.value
  }

  async function signOut(): Promise<void> {
    await data(api.POST('/auth/logout'))
    me.value = null
    window.location.assign('/')
  }

  return { me, load, signOut }
})
