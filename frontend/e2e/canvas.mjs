// What the browser scripts ask of a chart's canvas, run inside the page (page.evaluate, addInitScript).

/** How many rows of the canvas hold pixels of the app's primary colour: the reposts line once drawn. */
export function primaryRows(canvas) {
  const { width, height } = canvas
  if (!width || !height) return 0
  const pixels = canvas.getContext('2d').getImageData(0, 0, width, height).data
  const primary = getComputedStyle(document.documentElement).getPropertyValue('--va-primary').trim()
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(primary.slice(i, i + 2), 16))
  const painted = new Set()
  for (let i = 0; i < pixels.length; i += 4) {
    const near = Math.abs(pixels[i] - r) + Math.abs(pixels[i + 1] - g) + Math.abs(pixels[i + 2] - b) < 30
    if (near && pixels[i + 3] > 200) painted.add(Math.floor(i / 4 / width))
  }
  return painted.size
}

/** The activity chart's canvas on the bot page. */
export const ACTIVITY_CANVAS = '[data-test="activity-chart"] canvas'
