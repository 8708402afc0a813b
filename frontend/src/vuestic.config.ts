/**
 * All of Vuestic's configuration: the two colour presets, and only the components the layout draws
 * (they load before the first route anyway). Every other component is imported where it is used, so
 * it loads with its page; ESLint's vue/no-undef-components says when a template uses one unimported.
 */
import { createVuesticEssential, VaButton } from 'vuestic-ui'

export const vuestic = createVuesticEssential({
  components: { VaButton },
  config: {
    colors: {
      currentPresetName: 'light',
      presets: {
        light: { primary: '#0369a1', secondary: '#475569', success: '#15803d', info: '#0e7490', danger: '#b91c1c', warning: '#a16207' },
        dark: { primary: '#38bdf8', secondary: '#94a3b8', success: '#4ade80', info: '#22d3ee', danger: '#f87171', warning: '#facc15' },
      },
    },
  },
})
