/** The app's one API client: a 401 anywhere sends the browser to sign-in, and back to this page after. */
import { createApi, signInUrl } from './client'

export const api = createApi({
  onUnauthorized: () => window.location.assign(signInUrl(window.location.pathname + window.location.search)),
})
