/** A section of en.json, added to the app's messages when imported (vite.config.ts: localeSections). */
declare module 'words:*' {
  const section: Record<string, unknown>
  export default section
}

/** The sections the first route carries (i18n.ts), as the build serves them. */
declare module '*/locales/en/app.json' {
  const words: { app: Record<string, unknown> }
  export default words
}
declare module '*/locales/en/errors.json' {
  const words: { errors: Record<string, unknown> }
  export default words
}
