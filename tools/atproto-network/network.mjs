// Bluesky's reference network (PLC, PDS, AppView, and the bsync and ozone services the
// AppView needs) from @atproto/dev-env, for skybots' integration tests and `make demo`.
//
// Configuration, all from the environment:
//   DB_POSTGRES_URL    PostgreSQL URL (required by dev-env)
//   REDIS_HOST         host:port of Redis (required by dev-env)
//   ATPROTO_SCHEMA     Postgres schema prefix, letters and _ only (default: random letters)
//   ATPROTO_PDS_PORT, ATPROTO_APPVIEW_PORT, ATPROTO_PLC_PORT, ATPROTO_OZONE_PORT,
//   ATPROTO_CONTROL_PORT  ports (unset or 0: a free port)
//
// When ready it prints one JSON line on stdout: {"ready": true, ...the /info document}.
// The control endpoint (127.0.0.1 only):
//   GET  /info           service URLs and DIDs
//   POST /process-all    resolves once the AppView has indexed everything written so far
//   POST /feed-generator {"feed": at-uri, "posts": [at-uri, ...]}: serve that feed's skeleton
//                        from the network's one feed generator; answers {"did": its DID}
// SIGTERM or SIGINT closes the network, removes its temp folder and exits.

import crypto from 'node:crypto'
import dns from 'node:dns'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const HOST = '127.0.0.1'

// dev-env's services listen on every interface and call each other at http://localhost:<port>.
// Default every listen() without a host to loopback, and resolve localhost to IPv4 first.
const listen = net.Server.prototype.listen
net.Server.prototype.listen = function (...args) {
  const [first] = args
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    if (typeof args[1] !== 'string') args.splice(1, 0, HOST)
  } else if (first && typeof first === 'object' && 'port' in first && !first.host && !first.path) {
    args[0] = { ...first, host: HOST }
  } else if (first === undefined || typeof first === 'function') {
    args.unshift(0, HOST)
  }
  return listen.apply(this, args)
}
dns.setDefaultResultOrder('ipv4first')

// dev-env spreads these options over its defaults: a key set to undefined would erase the default.
const port = (name) => {
  const value = Number(process.env[name] || 0)
  if (!Number.isInteger(value) || value < 0 || value > 65535) throw new Error(`${name}: not a port: ${value}`)
  return value ? { port: value } : {}
}

const schema = process.env.ATPROTO_SCHEMA || randomLetters(12)
if (!/^[A-Za-z_]+$/.test(schema)) throw new Error(`ATPROTO_SCHEMA must only contain [A-Za-z_]: ${schema}`)

function randomLetters(length) {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz'
  return Array.from(crypto.randomBytes(length), (byte) => alphabet[byte % alphabet.length]).join('')
}

// The PDS leaves data folders in the temp folder, and dev-env keeps its port locks there:
// give this process a folder of its own, set before dev-env is loaded, and remove it on any exit.
const tmpdir = fs.mkdtempSync(path.join(os.tmpdir(), 'skybots-atproto-'))
process.env.TMPDIR = tmpdir

process.on('exit', () => fs.rmSync(tmpdir, { recursive: true, force: true }))

const { TestNetwork } = await import('@atproto/dev-env')

let network
let control
let closing
const feeds = {}
let feedGenerator

async function shutdown(code) {
  closing ??= (async () => {
    const timer = setTimeout(() => {
      console.error('atproto-network: close took over 20 s, exiting anyway')
      process.exit(1)
    }, 20_000)
    try {
      if (control) await new Promise((resolve) => control.close(resolve).closeAllConnections())
      if (network) await network.close()
    } catch (err) {
      console.error('atproto-network: error while closing:', err)
      code = 1
    }
    clearTimeout(timer)
    process.exit(code)
  })()
  return closing
}

for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => shutdown(0))

// dev-env names its services http://localhost:<port>; clients are to use loopback's address.
const loopback = (url) => url.replace('//localhost:', `//${HOST}:`)

function info() {
  return {
    plc: loopback(network.plc.url),
    pds: loopback(network.pds.url),
    appview: loopback(network.bsky.url),
    ozone: loopback(network.ozone.url),
    control: `http://${HOST}:${control.address().port}`,
    pdsDid: network.pds.ctx.cfg.service.did,
    appviewDid: network.bsky.ctx.cfg.serverDid,
    // The value of the atproto-proxy header that routes a PDS request to this AppView.
    appviewProxy: `${network.bsky.ctx.cfg.serverDid}#bsky_appview`,
    ozoneDid: network.ozone.ctx.cfg.service.did,
    schema,
    pid: process.pid,
  }
}

async function serveFeed({ feed, posts }) {
  if (typeof feed !== 'string' || !Array.isArray(posts)) throw new Error('expected {"feed": at-uri, "posts": [at-uri]}')
  // The generator reads this registry on every request, so feeds can be added after it starts.
  feeds[feed] = async ({ params }) => {
    const start = Number(params.cursor || 0)
    const page = posts.slice(start, start + params.limit)
    const cursor = start + page.length < posts.length ? String(start + page.length) : undefined
    return { encoding: 'application/json', body: { feed: page.map((post) => ({ post })), cursor } }
  }
  feedGenerator ??= await network.createFeedGen(feeds)
  return { did: feedGenerator.did }
}

async function readJson(req) {
  const chunks = []
  for await (const chunk of req) chunks.push(chunk)
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}
}

const routes = {
  'GET /info': async () => info(),
  'POST /process-all': async () => {
    await network.processAll()
    return { ok: true }
  },
  'POST /feed-generator': async (req) => serveFeed(await readJson(req)),
}

async function handle(req, res) {
  const route = routes[`${req.method} ${new URL(req.url, 'http://control').pathname}`]
  let status = 200
  let body
  try {
    if (!route) {
      status = 404
      body = { error: 'NotFound', routes: Object.keys(routes) }
    } else {
      body = await route(req)
    }
  } catch (err) {
    status = 500
    body = { error: String(err?.message ?? err) }
  }
  res.writeHead(status, { 'content-type': 'application/json' })
  res.end(JSON.stringify(body))
}

try {
  network = await TestNetwork.create({
    dbPostgresSchema: schema,
    plc: port('ATPROTO_PLC_PORT'),
    pds: { ...port('ATPROTO_PDS_PORT'), hostname: 'localhost' },
    bsky: port('ATPROTO_APPVIEW_PORT'),
    ozone: port('ATPROTO_OZONE_PORT'),
  })
  control = http.createServer((req, res) => void handle(req, res))
  await new Promise((resolve, reject) => {
    control.once('error', reject)
    control.listen(port('ATPROTO_CONTROL_PORT').port ?? 0, HOST, resolve)
  })
} catch (err) {
  console.error('atproto-network: failed to start:', err)
  await shutdown(1)
}

process.stdout.write(`${JSON.stringify({ ready: true, ...info() })}\n`)
