import { Rng } from '@moco-cxr/rng';
import { CxrDataError } from './errors';
import type { CxrDataset, CxrSample, ImageSet } from './types';

export interface SyntheticFindings {
  /** Prevalence (per patient) of a pleural-effusion-like blunted costophrenic angle with a meniscus. Default 0.5. */
  effusion?: number;
  /** Prevalence (per patient) of nodular opacities. Default 0.3. */
  nodule?: number;
}

export interface SyntheticOptions {
  count: number;
  /** Images are size x size. */
  size: number;
  seed: number;
  /** Findings and their prevalence; the tasks are the findings named here, in order Effusion, Nodule. */
  findings?: SyntheticFindings;
  /** Images per patient, inclusive range (default [1, 3]); a patient's images share anatomy and findings. */
  imagesPerPatient?: [number, number];
  /**
   * Spread of exposure as a multiple of the default: per image brightness, contrast and a left-right
   * gradient, per patient soft-tissue and lung density. 0 exposes every image alike (as after
   * intensity normalisation); anatomy, pose, noise and findings are the same for every value. Default 1.
   */
  exposure?: number;
  /**
   * Height of the effusion's fluid as a fraction of the lung's height, [min, max] (default [0.25, 0.5]:
   * a moderate effusion). At 32 px, 0.15-0.35 (the default before 0.1.0) shortens the aerated lung by
   * about as much as the spread of lung length and dome height does, and MoCo's instance
   * discrimination on a few hundred images encodes it no better than a random network does.
   */
  effusionHeight?: [number, number];
}

export interface SyntheticCxr {
  dataset: CxrDataset;
  images: ImageSet;
}

interface Anatomy {
  lungTop: number;
  lungBottom: number;
  lungOffset: number;
  lungRx: number;
  domeH: number;
  heartRx: number;
  heartRy: number;
  heartCy: number;
  bodyHalfW: number;
  ribStart: number;
  ribSpacing: number;
  ribCurve: number;
  tissue: number;
  lung: number;
  /** Effusion per side (image left, image right): fluid height as a fraction of lung height, 0 = none. */
  effusion: [number, number];
  meniscus: [number, number];
  nodules: { a: number; b: number; r: number; k: number }[];
}

const smooth = (e0: number, e1: number, x: number) => {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
};

/** A draw from [lo, hi] pulled towards its middle by `spread` (1 = the draw itself); one rng call whatever the spread. */
function spreadUniform(rng: Rng, lo: number, hi: number, spread: number): number {
  const mid = (lo + hi) / 2;
  return mid + (rng.uniform(lo, hi) - mid) * spread;
}

function drawAnatomy(rng: Rng, effusion: boolean, nodule: boolean, exposure: number, effusionHeight: [number, number]): Anatomy {
  const lungTop = rng.uniform(0.12, 0.18);
  const lungBottom = rng.uniform(0.74, 0.82);
  const lungOffset = rng.uniform(0.18, 0.21);
  const lungRx = rng.uniform(0.11, 0.13);
  const anatomy: Anatomy = {
    lungTop,
    lungBottom,
    lungOffset,
    lungRx,
    domeH: rng.uniform(0.05, 0.09),
    heartRx: rng.uniform(0.14, 0.18),
    heartRy: rng.uniform(0.11, 0.14),
    heartCy: lungBottom - rng.uniform(0.13, 0.17),
    bodyHalfW: lungOffset + lungRx + rng.uniform(0.05, 0.08),
    ribStart: lungTop + rng.uniform(0.0, 0.03),
    ribSpacing: (lungBottom - lungTop) / rng.uniform(8, 10),
    ribCurve: rng.uniform(0.04, 0.07),
    tissue: spreadUniform(rng, 0.5, 0.6, exposure),
    lung: spreadUniform(rng, 0.16, 0.26, exposure),
    effusion: [0, 0],
    meniscus: [0, 0],
    nodules: [],
  };
  if (effusion) {
    // One side or both; the fluid's height as a fraction of the lung's.
    const side = rng.int(3);
    for (const s of [0, 1]) {
      if (side === 2 || side === s) {
        anatomy.effusion[s] = rng.uniform(effusionHeight[0], effusionHeight[1]);
        anatomy.meniscus[s] = rng.uniform(0.04, 0.09);
      }
    }
  }
  if (nodule) {
    const n = 1 + rng.int(3);
    for (let j = 0; j < n; j++) {
      const side = rng.int(2) === 0 ? -1 : 1;
      anatomy.nodules.push({
        a: 0.5 + side * (lungOffset + rng.uniform(-0.6, 0.6) * lungRx),
        b: rng.uniform(lungTop + 0.08, lungBottom - 0.15),
        r: rng.uniform(0.02, 0.04),
        k: rng.uniform(0.25, 0.4),
      });
    }
  }
  return anatomy;
}

function render(an: Anatomy, size: number, rng: Rng, exposure: number): Uint8Array {
  const out = new Uint8Array(size * size);
  // Per-image pose and exposure, so two images of one patient are not identical.
  const theta = rng.uniform(-3, 3) * (Math.PI / 180);
  const scale = rng.uniform(0.95, 1.05);
  const dx = rng.uniform(-0.03, 0.03);
  const dy = rng.uniform(-0.03, 0.03);
  const contrast = spreadUniform(rng, 0.85, 1.15, exposure);
  const brightness = spreadUniform(rng, -0.05, 0.05, exposure);
  const ramp = spreadUniform(rng, -0.06, 0.06, exposure);
  const noise = rng.uniform(0.015, 0.03);
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const px = 1 / size;
  const lungRy = (an.lungBottom - an.lungTop) / 2;
  const lungCy = (an.lungTop + an.lungBottom) / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = (x + 0.5) * px - 0.5 - dx;
      const v = (y + 0.5) * px - 0.5 - dy;
      // Anatomical coordinates in [0, 1]^2.
      const a = (cos * u + sin * v) / scale + 0.5;
      const b = (-sin * u + cos * v) / scale + 0.5;
      const edge = 1.5 * px;
      // Body: neck widening to the shoulders, then the trunk.
      const halfW = b < 0.02 ? 0.1 : Math.min(an.bodyHalfW + 0.04, 0.1 + (an.bodyHalfW - 0.06) * smooth(0.02, 0.16, b) * 1.1);
      const body = smooth(halfW + edge, halfW - edge, Math.abs(a - 0.5));
      let I = 0.04 + body * (an.tissue - 0.04 + 0.08 * (b - 0.5));
      // Spine and mediastinum: a bright midline band.
      I += body * 0.12 * smooth(0.075, 0.045, Math.abs(a - 0.5));
      // Lungs: squarish superellipses, cut from below by the diaphragm domes.
      let lungMask = 0;
      let fluid = 0;
      for (let s = 0; s < 2; s++) {
        const sign = s === 0 ? -1 : 1;
        const cx = 0.5 + sign * an.lungOffset;
        const tx = (a - cx) / an.lungRx;
        const ty = (b - lungCy) / lungRy;
        const q = Math.abs(tx) ** 3.5 + Math.abs(ty) ** 3.5;
        let m = smooth(1 + 0.08, 1 - 0.08, q);
        const lateral = sign * tx; // -1 medial, +1 lateral
        const dome = an.lungBottom - an.domeH * Math.max(0, 1 - ((lateral + 0.2) / 1.05) ** 2);
        m *= smooth(dome + edge, dome - edge, b);
        if (m > 0 && an.effusion[s] > 0) {
          // Fluid rises towards the chest wall (the meniscus) and fills the costophrenic angle.
          const level = an.lungBottom - an.effusion[s] * (an.lungBottom - an.lungTop) - an.meniscus[s] * Math.max(0, (lateral + 1) / 2) ** 2;
          fluid = Math.max(fluid, m * smooth(level - edge, level + 2 * edge, b));
        }
        lungMask = Math.max(lungMask, m);
      }
      const lungI = an.lung + 0.06 * (b - lungCy) + 0.05 * Math.abs(a - 0.5);
      I = I * (1 - lungMask) + lungI * lungMask;
      // Posterior ribs: arcs across each hemithorax, seen over the lungs.
      const t = Math.abs(a - 0.5);
      if (t > 0.04 && t < an.bodyHalfW) {
        const arc = Math.sin((Math.PI * (t - 0.04)) / (an.bodyHalfW - 0.04));
        let rib = 0;
        for (let k = 0; k < 11; k++) {
          const rb = an.ribStart + k * an.ribSpacing - an.ribCurve * arc + 0.03 * (t - 0.04);
          const d = Math.abs(b - rb);
          if (d < 0.03) rib = Math.max(rib, smooth(0.009 + edge, 0.009 - edge * 0.5, d));
        }
        I += rib * (0.02 + 0.07 * lungMask);
      }
      // Clavicles: bright oblique bands at the top.
      for (const sign of [-1, 1]) {
        const la = sign * (a - 0.5);
        if (la > 0.04 && la < 0.38) {
          const cb = an.lungTop - 0.005 - 0.12 * (la - 0.04);
          I += 0.14 * smooth(0.014 + edge, 0.014 - edge * 0.5, Math.abs(b - cb));
        }
      }
      // Heart shadow, left of the patient (image right), over the medial lungs.
      const hx = (a - 0.5 - 0.06) / an.heartRx;
      const hy = (b - an.heartCy) / an.heartRy;
      const heart = smooth(1.1, 0.9, hx * hx + hy * hy);
      I = I * (1 - 0.75 * heart) + (an.tissue + 0.04) * 0.75 * heart;
      // Effusion: fluid density replaces aerated lung below the meniscus.
      I = I * (1 - 0.9 * fluid) + (an.tissue + 0.02) * 0.9 * fluid;
      for (const n of an.nodules) {
        const d2 = ((a - n.a) ** 2 + (b - n.b) ** 2) / (n.r * n.r);
        if (d2 < 9) I += n.k * lungMask * Math.exp(-d2);
      }
      I = (I - 0.4) * contrast + 0.4 + brightness + ramp * (a - 0.5) + noise * rng.normal();
      out[y * size + x] = I <= 0 ? 0 : I >= 1 ? 255 : Math.round(I * 255);
    }
  }
  return out;
}

/**
 * Procedural chest-radiograph-like images (body, lung fields, ribs, clavicles, heart shadow, noise)
 * with known findings, seeded: the default dataset when no data is given.
 */
export function syntheticCxr(options: SyntheticOptions): SyntheticCxr {
  const { count, size, seed } = options;
  if (!(Number.isInteger(count) && count > 0)) throw new CxrDataError(`syntheticCxr: count must be a positive integer, got ${count}`);
  if (!(Number.isInteger(size) && size >= 16)) throw new CxrDataError(`syntheticCxr: size must be an integer >= 16, got ${size}`);
  const findings = options.findings ?? { effusion: 0.5, nodule: 0.3 };
  const tasks: string[] = [];
  if (findings.effusion !== undefined) tasks.push('Effusion');
  if (findings.nodule !== undefined) tasks.push('Nodule');
  for (const [name, p] of Object.entries(findings)) {
    if (!['effusion', 'nodule'].includes(name)) throw new CxrDataError(`syntheticCxr: unknown finding ${JSON.stringify(name)}; known: effusion, nodule`);
    if (!(typeof p === 'number' && p >= 0 && p <= 1)) throw new CxrDataError(`syntheticCxr: prevalence of ${name} must be in [0, 1], got ${p}`);
  }
  if (tasks.length === 0) throw new CxrDataError('syntheticCxr: findings names no finding');
  const [lo, hi] = options.imagesPerPatient ?? [1, 3];
  if (!(Number.isInteger(lo) && Number.isInteger(hi) && lo >= 1 && hi >= lo)) throw new CxrDataError(`syntheticCxr: imagesPerPatient must be integers 1 <= min <= max, got [${lo}, ${hi}]`);
  const exposure = options.exposure ?? 1;
  if (!(typeof exposure === 'number' && Number.isFinite(exposure) && exposure >= 0)) throw new CxrDataError(`syntheticCxr: exposure must be a finite number >= 0, got ${exposure}`);
  const effusionHeight = options.effusionHeight ?? [0.25, 0.5];
  const [eLo, eHi] = effusionHeight;
  if (!(Number.isFinite(eLo) && Number.isFinite(eHi) && eLo > 0 && eLo <= eHi && eHi <= 1)) {
    throw new CxrDataError(`syntheticCxr: effusionHeight must be [min, max] with 0 < min <= max <= 1 (fractions of the lung's height), got ${JSON.stringify(effusionHeight)}`);
  }
  const rng = new Rng(seed);
  const K = tasks.length;
  const labels = new Float32Array(count * K);
  const samples: CxrSample[] = [];
  const anatomyOf: Anatomy[] = [];
  const imageSeeds = new Uint32Array(count);
  let patient = 0;
  while (samples.length < count) {
    const hasEff = findings.effusion !== undefined && rng.next() < findings.effusion;
    const hasNod = findings.nodule !== undefined && rng.next() < findings.nodule;
    const an = drawAnatomy(rng, hasEff, hasNod, exposure, effusionHeight);
    const sex = rng.int(2) === 0 ? 'M' : 'F';
    const age = 20 + rng.int(60);
    const n = lo + rng.int(hi - lo + 1);
    const patientId = `synth${String(patient).padStart(5, '0')}`;
    for (let j = 0; j < n && samples.length < count; j++) {
      const i = samples.length;
      const row = [hasEff ? 1 : 0, hasNod ? 1 : 0].filter((_, t) => (t === 0 ? findings.effusion !== undefined : findings.nodule !== undefined));
      labels.set(row, i * K);
      samples.push({ path: `${patientId}/study${j + 1}/view1_frontal.png`, patientId, studyId: `${patientId}/study${j + 1}`, view: 'PA', sex, age, meta: { synthetic: 'true' } });
      anatomyOf.push(an);
      imageSeeds[i] = rng.nextUint32();
    }
    patient++;
  }
  const pixels = size * size;
  const renderOne = (i: number) => render(anatomyOf[i], size, new Rng(imageSeeds[i]), exposure);
  // Small sets are rendered once; large ones are rendered on demand (the same pixels every time).
  const memo = count * pixels <= 64 * 2 ** 20 ? new Array<Uint8Array | undefined>(count) : undefined;
  const images: ImageSet = {
    count,
    height: size,
    width: size,
    read(indices) {
      const out = new Uint8Array(indices.length * pixels);
      for (let j = 0; j < indices.length; j++) {
        const i = indices[j];
        if (!Number.isInteger(i) || i < 0 || i >= count) throw new CxrDataError(`syntheticCxr read: index ${i} is out of range for ${count} images`);
        let img = memo?.[i];
        if (!img) {
          img = renderOne(i);
          if (memo) memo[i] = img;
        }
        out.set(img, j * pixels);
      }
      return out;
    },
  };
  return { dataset: { root: `synthetic:seed=${seed}`, tasks, labels, samples }, images };
}
