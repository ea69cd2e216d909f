import type { GradCamResult, GreyImage } from '@moco-cxr/model-bundle';

/** What the page records of a heatmap: its range and spread, and its peak in the original image's pixels. */
export interface HeatmapStats {
  min: number;
  max: number;
  mean: number;
  std: number;
  /** The peak's pixel centre in the original image (x right, y down). */
  peak: { x: number; y: number };
  image: { width: number; height: number };
}

export function heatmapStats(cam: GradCamResult, image: Pick<GreyImage, 'width' | 'height'>): HeatmapStats {
  const m = cam.heatmap;
  let min = Infinity;
  let max = -Infinity;
  let sum = 0;
  let at = 0;
  for (let i = 0; i < m.length; i++) {
    if (m[i] < min) min = m[i];
    if (m[i] > max) [max, at] = [m[i], i];
    sum += m[i];
  }
  const mean = sum / m.length;
  let sq = 0;
  for (let i = 0; i < m.length; i++) sq += (m[i] - mean) ** 2;
  const w = cam.window;
  const gx = at % cam.width;
  const gy = Math.floor(at / cam.width);
  const peak = { x: w.left + ((gx + 0.5) * w.width) / cam.width, y: w.top + ((gy + 0.5) * w.height) / cam.height };
  return { min, max, mean, std: Math.sqrt(sq / m.length), peak, image: { width: image.width, height: image.height } };
}

/** A jet-like colour for t in [0, 1]: blue, cyan, yellow, red. */
function colour(t: number): [number, number, number] {
  const c = (x: number) => Math.round(255 * Math.min(1, Math.max(0, x)));
  return [c(1.5 - Math.abs(4 * t - 3)), c(1.5 - Math.abs(4 * t - 2)), c(1.5 - Math.abs(4 * t - 1))];
}

/** Draws the radiograph in grey and the heatmap over the part the model sees, opacity rising with the heat. */
export function overlayHeatmap(canvas: HTMLCanvasElement, image: GreyImage, cam: GradCamResult): void {
  canvas.width = image.width;
  canvas.height = image.height;
  const ctx = canvas.getContext('2d')!;
  const grey = ctx.createImageData(image.width, image.height);
  for (let i = 0; i < image.data.length; i++) {
    const v = image.data[i];
    grey.data.set([v, v, v, 255], i * 4);
  }
  ctx.putImageData(grey, 0, 0);
  const heat = new ImageData(cam.width, cam.height);
  for (let i = 0; i < cam.heatmap.length; i++) {
    const t = cam.heatmap[i];
    const [r, g, b] = colour(t);
    heat.data.set([r, g, b, Math.round(40 + 150 * t)], i * 4);
  }
  const layer = new OffscreenCanvas(cam.width, cam.height);
  layer.getContext('2d')!.putImageData(heat, 0, 0);
  const w = cam.window;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(layer, w.left, w.top, w.width, w.height);
}
