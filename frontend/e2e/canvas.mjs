// What the browser scripts ask of a chart's canvas, run inside the page (page.evaluate, addInitScript):
// self-contained functions, since they are sent to the page as their source.

/**
 * Where a canvas holds pixels of one colour (a CSS variable such as --va-primary, or #rrggbb): how many
 * rows, and the span they cover. A line that rises (not flat at zero) covers many rows.
 */
export function ink(canvas, colour) {
  const { width, height } = canvas
  const found = { rows: 0, left: width, right: -1, top: height, width, ratio: window.devicePixelRatio }
  if (!width || !height) return found
  const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data
  const hex = colour.startsWith('--') ? getComputedStyle(document.documentElement).getPropertyValue(colour).trim() : colour
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16))
  const rows = new Set()
  for (let i = 0; i < pixels.length; i += 4) {
    if (Math.abs(pixels[i] - r) + Math.abs(pixels[i + 1] - g) + Math.abs(pixels[i + 2] - b) < 30 && pixels[i + 3] > 200) {
      const [x, y] = [(i / 4) % width, Math.floor(i / 4 / width)]
      rows.add(y)
      found.left = Math.min(found.left, x)
      found.right = Math.max(found.right, x)
      found.top = Math.min(found.top, y)
    }
  }
  return { ...found, rows: rows.size }
}

/** The reposts chart's canvas on the bot page. */
export const REPOSTS_CANVAS = '[data-test="chart-reposted"] canvas'
