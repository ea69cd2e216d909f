// Grey images without a filesystem or a decoder: the byte checks, the grey conversion and the resize
// and crop every decoder's output goes through (shared by the Node and the browser entries).
import type { Rng } from '@moco-cxr/rng';
import { CxrDataError } from './errors';

/** A decoded grey image, 8 bits per pixel, row-major. */
export interface GreyImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Rejects files that are not PNG / JPEG or are cut short, before a decoder sees them. */
export function checkImageBytes(bytes: Uint8Array, file: string): 'png' | 'jpeg' {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (isPng) {
    // The IEND chunk (with its CRC) closes every complete PNG.
    const tail = bytes.subarray(Math.max(0, bytes.length - 12));
    if (tail.length < 12 || String.fromCharCode(tail[4], tail[5], tail[6], tail[7]) !== 'IEND') throw new CxrDataError(`corrupt or truncated PNG ${file}: no IEND chunk at the end (${bytes.length} bytes)`, file);
    return 'png';
  }
  if (isJpeg) {
    // A complete JPEG ends with the EOI marker FFD9 (some writers append a little data after it);
    // byte stuffing means FFD9 cannot occur inside entropy-coded data.
    let ok = false;
    for (let i = bytes.length - 2; i >= Math.max(2, bytes.length - 1024); i--) {
      if (bytes[i] === 0xff && bytes[i + 1] === 0xd9) {
        ok = true;
        break;
      }
    }
    if (!ok) throw new CxrDataError(`corrupt or truncated JPEG ${file}: no end-of-image marker (${bytes.length} bytes)`, file);
    return 'jpeg';
  }
  throw new CxrDataError(`${file} is not a PNG or JPEG image (first bytes ${Array.from(bytes.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join('')})`, file);
}

/** ITU-R BT.601 luma from interleaved channels, as PIL's convert('L'); alpha is ignored. */
export function toGrey(src: Uint8Array, width: number, height: number, channels: number): Uint8Array {
  const n = width * height;
  if (channels === 1) return new Uint8Array(src.buffer, src.byteOffset, n).slice();
  const out = new Uint8Array(n);
  if (channels === 2) {
    for (let i = 0; i < n; i++) out[i] = src[i * 2];
    return out;
  }
  for (let i = 0, j = 0; i < n; i++, j += channels) {
    const r = src[j];
    const g = src[j + 1];
    const b = src[j + 2];
    // Integer weights (x 2^16) as PIL uses: 19595 R + 38470 G + 7471 B.
    out[i] = (r * 19595 + g * 38470 + b * 7471 + 0x8000) >>> 16;
  }
  return out;
}

/** Per output pixel, the first input index and the normalised weights of PIL's antialiased bilinear filter. */
function filterWeights(inSize: number, outSize: number): { start: Int32Array; count: Int32Array; weights: Float32Array; taps: number } {
  const scale = inSize / outSize;
  const support = Math.max(scale, 1);
  const taps = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Float32Array(outSize * taps);
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - support + 0.5));
    const hi = Math.min(inSize, Math.floor(center + support + 0.5));
    let sum = 0;
    for (let i = lo; i < hi; i++) {
      const w = Math.max(0, 1 - Math.abs((i - center + 0.5) / support));
      weights[o * taps + i - lo] = w;
      sum += w;
    }
    for (let i = 0; i < hi - lo; i++) weights[o * taps + i] /= sum || 1;
    start[o] = lo;
    count[o] = hi - lo;
  }
  return { start, count, weights, taps };
}

/** Resizes a grey image with an antialiased bilinear (triangle) filter, as PIL's Image.resize(BILINEAR). */
export function resizeGrey(image: GreyImage, width: number, height: number): GreyImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) throw new CxrDataError(`resizeGrey: target size ${width}x${height} must be positive integers`);
  if (width === image.width && height === image.height) return { width, height, data: image.data.slice() };
  const { width: W, height: H, data } = image;
  // Locals and flat typed arrays keep both passes monomorphic (about 10x faster than property lookups here).
  const { start: hs, count: hc, weights: hwts, taps: ht } = filterWeights(W, width);
  const tmp = new Float32Array(H * width);
  for (let y = 0; y < H; y++) {
    const row = y * W;
    const orow = y * width;
    for (let x = 0; x < width; x++) {
      const s = row + hs[x];
      const base = x * ht;
      const n = hc[x];
      let acc = 0;
      for (let t = 0; t < n; t++) acc += data[s + t] * hwts[base + t];
      tmp[orow + x] = acc;
    }
  }
  const { start: vs, count: vc, weights: vwts, taps: vt } = filterWeights(H, height);
  const out = new Uint8Array(width * height);
  const acc = new Float32Array(width);
  for (let y = 0; y < height; y++) {
    acc.fill(0);
    const base = y * vt;
    const n = vc[y];
    for (let t = 0; t < n; t++) {
      const w = vwts[base + t];
      const src = (vs[y] + t) * width;
      for (let x = 0; x < width; x++) acc[x] += tmp[src + x] * w;
    }
    const orow = y * width;
    for (let x = 0; x < width; x++) {
      const v = acc[x];
      out[orow + x] = v <= 0 ? 0 : v >= 255 ? 255 : (v + 0.5) | 0;
    }
  }
  return { width, height, data: out };
}

/** Copies the `width` x `height` window at (left, top). */
export function cropGrey(image: GreyImage, left: number, top: number, width: number, height: number): GreyImage {
  if (left < 0 || top < 0 || left + width > image.width || top + height > image.height || width <= 0 || height <= 0) {
    throw new CxrDataError(`cropGrey: window ${width}x${height} at (${left}, ${top}) is outside the ${image.width}x${image.height} image`);
  }
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) out.set(image.data.subarray((top + y) * image.width + left, (top + y) * image.width + left + width), y * width);
  return { width, height, data: out };
}

export interface ResizeCropOptions {
  /** Output is size x size. */
  size: number;
  /** 'center' (default, deterministic) or 'random' (needs rng). */
  crop?: 'center' | 'random';
  rng?: Rng;
}

/** Resizes the short side to `size` (keeping the aspect ratio), then crops `size` x `size` (centre or random). */
export function resizeShortSideAndCrop(image: GreyImage, options: ResizeCropOptions): GreyImage {
  const { size } = options;
  if (!(Number.isInteger(size) && size > 0)) throw new CxrDataError(`resizeShortSideAndCrop: size must be a positive integer, got ${size}`);
  const short = Math.min(image.width, image.height);
  const w = image.width === short ? size : Math.max(size, Math.round((image.width * size) / short));
  const h = image.height === short ? size : Math.max(size, Math.round((image.height * size) / short));
  const resized = resizeGrey(image, w, h);
  if (w === size && h === size) return resized;
  let left = Math.floor((w - size) / 2);
  let top = Math.floor((h - size) / 2);
  if (options.crop === 'random') {
    if (!options.rng) throw new CxrDataError("resizeShortSideAndCrop: crop 'random' needs an rng");
    left = options.rng.int(w - size + 1);
    top = options.rng.int(h - size + 1);
  }
  return cropGrey(resized, left, top, size, size);
}
