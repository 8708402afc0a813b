/** The look: light or dark, remembered in this browser; Vuestic's preset and Tailwind's colours follow it. */
import { defineStore } from 'pinia'
import { ref, watch } from 'vue'
import { useColors } from 'vuestic-ui'

const KEY = 'skybots.theme'

export const useUiStore = defineStore('ui', () => {
  const { applyPreset } = useColors()
  const dark = ref(localStorage.getItem(KEY) === 'dark')
  watch(
    dark,
    (isDark) => {
      localStorage.setItem(KEY, isDark ? 'dark' : 'light')
      applyPreset(isDark ? 'dark' : 'light')
      document.documentElement.classList.toggle('dark', isDark)
    },
    { immediate: true },
  )
  return { dark }
})
