/** Named, lazily loaded routes under /app/; anything else is the not-found page. */
import { createRouter, createWebHistory } from 'vue-router'

export const router = createRouter({
  history: createWebHistory(import.meta.env.BASE_URL),
  routes: [
    { path: '/', name: 'overview', component: () => import('@/pages/overview/OverviewPage.vue') },
    { path: '/new', name: 'new-bot', component: () => import('@/pages/bot-form/BotFormPage.vue') },
    { path: '/bots/:name/edit', name: 'edit-bot', component: () => import('@/pages/bot-form/BotFormPage.vue'), props: true },
    { path: '/bots/:name', name: 'bot', component: () => import('@/pages/bot/BotPage.vue'), props: true },
    { path: '/account', name: 'account', component: () => import('@/pages/account/AccountPage.vue') },
    { path: '/:path(.*)*', name: 'not-found', component: () => import('@/pages/NotFoundPage.vue') },
  ],
})
