import { createPinia } from 'pinia'
import { createApp } from 'vue'
import App from './App.vue'
import { i18n } from './i18n'
import { catchUnexpected } from './lib/unexpected'
import { router } from './router'
import { vuestic } from './vuestic.config'
import './styles.css'

const app = createApp(App).use(createPinia()).use(router).use(i18n).use(vuestic)
catchUnexpected(app, router)
app.mount('#app')
