import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { Jimp } from 'jimp';

/** A fresh temp directory and its cleanup. */
export function tempDir(prefix = 'cxr-data-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body) >>> 0);
  return Buffer.concat([len, body, crc]);
}

/** A 16-bit greyscale PNG (jimp cannot write one), written byte by byte from the PNG spec. */
export function png16(width: number, height: number, values: ArrayLike<number>): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 16; // bit depth
  ihdr[9] = 0; // greyscale
  const stride = 1 + width * 2;
  const raw = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) raw.writeUInt16BE(values[y * width + x], y * stride + 1 + x * 2);
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

/** An RGBA jimp image from a per-pixel function. */
export function jimpImage(width: number, height: number, rgb: (x: number, y: number) => [number, number, number]) {
  const image = new Jimp({ width, height });
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) image.bitmap.data.set([...rgb(x, y), 255], (y * width + x) * 4);
  return image;
}

export async function pngBytes(width: number, height: number, rgb: (x: number, y: number) => [number, number, number]): Promise<Buffer> {
  return jimpImage(width, height, rgb).getBuffer('image/png');
}

export async function jpegBytes(width: number, height: number, rgb: (x: number, y: number) => [number, number, number], quality = 95): Promise<Buffer> {
  return jimpImage(width, height, rgb).getBuffer('image/jpeg', { quality });
}

/** AUROC by the Mann-Whitney count (ties = 1/2), for checking separability in tests. */
export function aurocOf(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  let pairs = 0;
  let wins = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 1) continue;
    for (let j = 0; j < labels.length; j++) {
      if (labels[j] !== 0) continue;
      pairs++;
      wins += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    }
  }
  return wins / pairs;
}

/** Where the real Kermany data lives: MOCO_CXR_DATA or ../shared/data relative to the repo root. */
export const KERMANY_DIR = process.env.MOCO_CXR_DATA ?? new URL('../../../../../shared/data/kermany-pediatric-cxr-224', import.meta.url).pathname;

/**
 * A linear probe: ridge-regularised LDA, w = (S + lambda I)^-1 (mu1 - mu0), with S the pooled
 * within-class covariance of the training rows. Returns the weights.
 */
export function fitLinearProbe(x: Float64Array, d: number, labels: number[], lambda: number): Float64Array {
  const n = labels.length;
  const mu = [new Float64Array(d), new Float64Array(d)];
  const count = [0, 0];
  for (let i = 0; i < n; i++) {
    count[labels[i]]++;
    for (let p = 0; p < d; p++) mu[labels[i]][p] += x[i * d + p];
  }
  for (const c of [0, 1]) for (let p = 0; p < d; p++) mu[c][p] /= count[c];
  const cov = new Float64Array(d * d);
  const r = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < d; p++) r[p] = x[i * d + p] - mu[labels[i]][p];
    for (let p = 0; p < d; p++) {
      const rp = r[p];
      if (rp === 0) continue;
      for (let q = 0; q <= p; q++) cov[p * d + q] += rp * r[q];
    }
  }
  for (let p = 0; p < d; p++) {
    for (let q = 0; q <= p; q++) cov[p * d + q] /= n;
    cov[p * d + p] += lambda;
  }
  // Cholesky (lower triangle) and two triangular solves.
  for (let j = 0; j < d; j++) {
    let s = cov[j * d + j];
    for (let k = 0; k < j; k++) s -= cov[j * d + k] ** 2;
    const l = Math.sqrt(s);
    cov[j * d + j] = l;
    for (let i = j + 1; i < d; i++) {
      let t = cov[i * d + j];
      for (let k = 0; k < j; k++) t -= cov[i * d + k] * cov[j * d + k];
      cov[i * d + j] = t / l;
    }
  }
  const w = new Float64Array(d);
  for (let p = 0; p < d; p++) w[p] = mu[1][p] - mu[0][p];
  for (let i = 0; i < d; i++) {
    let t = w[i];
    for (let k = 0; k < i; k++) t -= cov[i * d + k] * w[k];
    w[i] = t / cov[i * d + i];
  }
  for (let i = d - 1; i >= 0; i--) {
    let t = w[i];
    for (let k = i + 1; k < d; k++) t -= cov[k * d + i] * w[k];
    w[i] = t / cov[i * d + i];
  }
  return w;
}
