/**
 * Where a post card links: the API's template (GET /api/config, SKYBOTS_POST_LINK), such as
 * https://bsky.app/profile/{handle}/post/{rkey}, filled in from the post's at:// URI and author.
 */
import type { PostCard } from '@/api/client'

const AT_URI = /^at:\/\/(did:[a-z]+:[A-Za-z0-9._:%-]+)\/([A-Za-z0-9.-]+)\/([A-Za-z0-9._:~-]+)$/

/** The link to the post, every value URL-encoded; null when its URI is not a post's or the template not http(s). */
export function postLink(template: string, card: Pick<PostCard, 'uri' | 'authorHandle'>): string | null {
  const parts = AT_URI.exec(card.uri)
  if (!parts || parts[2] !== 'app.bsky.feed.post' || !/^https?:\/\//.test(template)) return null
  const [, did, , rkey] = parts as unknown as [string, string, string, string]
  const values: Record<string, string> = { handle: card.authorHandle || did, did, rkey, uri: card.uri }
  return template.replace(/\{(handle|did|rkey|uri)\}/g, (_, name: string) => encodeURIComponent(values[name]!))
}
