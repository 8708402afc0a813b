// An OpenID provider (npm oidc-provider) standing in for Google in skybots' tests and `make demo`.
//
// Configuration, all from the environment:
//   OIDC_PORT           port on 127.0.0.1 (unset or 0: a free port); the issuer is http://127.0.0.1:<port>
//   OIDC_CLIENT_ID      the one confidential client (client_secret_basic at the token endpoint)
//   OIDC_CLIENT_SECRET
//   OIDC_REDIRECT_URIS  the client's redirect URIs, comma-separated
//
// Sign-in goes through oidc-provider's development interactions: HTML forms for login (any
// login name, any password) and consent. The login name is the account: its `sub`, and its
// email. A name that starts with `unverified-` signs in with that prefix dropped from the email
// and `email_verified: false`. The id_token carries email, email_verified and name, as Google's does.
//
// When ready it prints one JSON line on stdout: {"ready": true, "issuer": ...}.
// SIGTERM or SIGINT stops it.

import crypto from 'node:crypto'
import http from 'node:http'

import Provider from 'oidc-provider'

const HOST = '127.0.0.1'
const UNVERIFIED = 'unverified-'

const required = (name) => {
  const value = process.env[name]
  if (!value) throw new Error(`${name} is not set`)
  return value
}

const port = Number(process.env.OIDC_PORT || 0)
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`OIDC_PORT: not a port: ${port}`)
const client = {
  client_id: required('OIDC_CLIENT_ID'),
  client_secret: required('OIDC_CLIENT_SECRET'),
  redirect_uris: required('OIDC_REDIRECT_URIS').split(',').map((uri) => uri.trim()).filter(Boolean),
  response_types: ['code'],
  grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic',
}

function account(login) {
  const verified = !login.startsWith(UNVERIFIED)
  const email = verified ? login : login.slice(UNVERIFIED.length)
  const local = email.split('@')[0]
  const name = local.charAt(0).toUpperCase() + local.slice(1)
  return { sub: login, email, email_verified: verified, name }
}

// The issuer names the port, so listen first (the port may be the OS's pick), then build the provider.
const server = http.createServer()
await new Promise((resolve, reject) => {
  server.once('error', reject)
  server.listen(port, HOST, resolve)
})
const issuer = `http://${HOST}:${server.address().port}`

const provider = new Provider(issuer, {
  clients: [client],
  // A signing key of this process's own: no token outlives it, none is valid at another run.
  jwks: { keys: [crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' })] },
  cookies: { keys: [crypto.randomBytes(32).toString('base64url')] },
  scopes: ['openid', 'email', 'profile'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  // The scopes' claims go into the id_token too, not only to the userinfo endpoint (as Google does).
  conformIdTokenClaims: false,
  responseTypes: ['code'],
  // By default PKCE is required only of public clients; Google's web clients may use it, we always do.
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  async findAccount(ctx, sub) {
    return { accountId: sub, claims: async () => account(sub) }
  },
})

// Failures a test may want to read about in the log; never the request bodies (they hold secrets).
for (const event of ['server_error', 'authorization.error', 'grant.error']) {
  provider.on(event, (ctx, error) => console.error(`${event}: ${error.name}: ${error.message}${error.error_detail ? ` (${error.error_detail})` : ''}`))
}

server.on('request', provider.callback())
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.close(() => process.exit(0)))
}
console.log(JSON.stringify({ ready: true, issuer }))
