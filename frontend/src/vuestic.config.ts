/** All of Vuestic's configuration: the components the app uses (nothing else is bundled) and the two colour presets. */
import {
  createVuesticEssential,
  VaAlert,
  VaBadge,
  VaButton,
  VaButtonToggle,
  VaCard,
  VaCardContent,
  VaCardTitle,
  VaDataTable,
  VaProgressCircle,
  VaSwitch,
} from 'vuestic-ui'

export const vuestic = createVuesticEssential({
  components: {
    VaAlert,
    VaBadge,
    VaButton,
    VaButtonToggle,
    VaCard,
    VaCardContent,
    VaCardTitle,
    VaDataTable,
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
