/** A real HTTP server standing in for the API: it records every request and answers from a table. */
import { createServer, type IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface Recorded {
  method: string
  path: string
  headers: IncomingMessage['headers']
}

export interface Answer {
  status: number
  body?: unknown
  type?: string
  headers?: Record<string, string>
}

export async function apiServer(answer: (request: Recorded) => Answer | Promise<Answer>) {
  const requests: Recorded[] = []
  const server = createServer((request, response) => {
    const recorded = { method: request.method ?? '', path: request.url ?? '', headers: request.headers }
    requests.push(recorded)
    request.resume()
    request.on('end', async () => {
      const { status, body, type = 'application/json', headers = {} } = await answer(recorded)
      response.writeHead(status, { 'content-type': type, ...headers })
      response.end(body === undefined ? undefined : type === 'application/json' ? JSON.stringify(body) : String(body))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
