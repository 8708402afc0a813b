/** All of Vuestic's configuration: the components every page uses (a page's own few it imports itself, so they load with it) and the two colour presets. */
import {
  createVuesticEssential,
  VaAlert,
  VaBadge,
  VaButton,
  VaCard,
  VaCardContent,
  VaCardTitle,
  VaProgressCircle,
  VaSwitch,
} from 'vuestic-ui'

export const vuestic = createVuesticEssential({
  components: {
    VaAlert,
    VaBadge,
    VaButton,
    VaCard,
    VaCardContent,
    VaCardTitle,
    VaProgressCircle,
    VaSwitch,
  },
  config: {
    colors: {
      currentPresetName: 'light',
      presets: {
        light: { primary: '#0369a1', secondary: '#64748b', success: '#15803d', info: '#0e7490', danger: '#b91c1c', warning: '#a16207' },
        dark: { primary: '#38bdf8', secondary: '#94a3b8', success: '#4ade80', info: '#22d3ee', danger: '#f87171', warning: '#facc15' },
      },
    },
  },
})
