import type { Rng } from '@moco-cxr/rng';
import type { Normalization } from './normalize';

/** torchvision's RandomResizedCrop parameters. */
export interface ResizedCropOptions {
  /** Range of the crop's area as a fraction of the image's. MoCo v2: [0.2, 1]. */
  scale: readonly [number, number];
  /** Range of the crop's width / height; drawn log-uniformly. MoCo v2: [3/4, 4/3]. */
  ratio: readonly [number, number];
}

/** Brightness then contrast, as torchvision's ColorJitter does them on a grey image. */
export interface ColorJitterOptions {
  /** Brightness factor drawn from [max(0, 1 - b), 1 + b]; intensities are multiplied by it. */
  brightness: number;
  /** Contrast factor drawn from [max(0, 1 - c), 1 + c]; the image is blended with its own mean. */
  contrast: number;
  /** Chance that an image is jittered at all (MoCo v2: 0.8). */
  probability: number;
  /** Intensity range results are clipped to after each step; [0, 1] for pixel input. null: no clipping. */
  clip?: readonly [number, number] | null;
}

export interface BlurOptions {
  /** Gaussian sigma, in output pixels, drawn uniformly from this range (MoCo v2: [0.1, 2]). */
  sigma: readonly [number, number];
  /** Chance that an image is blurred (MoCo v2: 0.5). */
  probability: number;
}

/**
 * Everything one augmentation does. A field left out is off (identity), so start from a preset
 * (`mocoCxrAugment`, `mocoV2Augment`, `evalAugment`) and override: `{...mocoCxrAugment, rotation: 5}`.
 *
 * Order, as torchvision's pipelines: resize short side → crop (random, centre or random-resized)
 * → horizontal flip → rotation about the centre; all four are one bilinear warp per image. Then
 * brightness / contrast, then blur, then (pixel input only) normalisation.
 */
export interface AugmentOptions {
  /** Resize so the short side is this many pixels before cropping (torchvision `Resize(S)`). Default: no resize. */
  resize?: number;
  /** Output height and width (a number means square). Default: [resize, resize] if `resize` is set, else the input's size. */
  size?: number | readonly [number, number];
  /** 'random' (torchvision RandomCrop, integer offsets) or 'center' (CenterCrop). Ignored when `resizedCrop` is set. Default 'random'. */
  crop?: 'random' | 'center';
  /** Pixels of `fillValue` added on every side before a random crop (RandomCrop's `padding`). Default 0. */
  padding?: number;
  /** Random-resized-crop (MoCo v2's extra) in place of the plain crop. Default off. */
  resizedCrop?: ResizedCropOptions | null;
  /** Chance of a horizontal flip. Default 0; the paper uses 0.5. */
  flipProbability?: number;
  /**
   * Rotation in degrees, counter-clockwise as displayed (torchvision's sign): d means uniform in
   * [-d, d], [lo, hi] means uniform in [lo, hi]. Default 0; the paper uses 10.
   */
  rotation?: number | readonly [number, number];
  /** Default off. */
  colorJitter?: ColorJitterOptions | null;
  /** Default off. */
  blur?: BlurOptions | null;
  /**
   * Value for pixels that come from outside the image (rotated-in corners, padding), in the units of
   * the tensor being warped. Pixel input is warped in [0, 1] intensity before normalisation, so the
   * default 0 is black there, as torchvision's `fill=0` on PIL images.
   */
  fillValue?: number;
  /** Default 'bilinear'. */
  interpolation?: 'bilinear' | 'nearest';
  /** Pixel input only: normalisation applied after augmentation. Default 'cxr'. */
  normalize?: Normalization;
  /** Pixel input only: output channels (grey copied). Default 3. */
  channels?: 1 | 3;
}

/** The random choices for one image, all drawn with `Rng`. */
export interface AugmentParams {
  /** Crop box in the (resized) image's pixel grid: top-left corner and size; may extend past the edge when padding. */
  cropX: number;
  cropY: number;
  cropWidth: number;
  cropHeight: number;
  flip: boolean;
  /** Degrees, counter-clockwise as displayed. */
  angle: number;
  /** 1 when not jittered. */
  brightness: number;
  /** 1 when not jittered. */
  contrast: number;
  /** 0 when not blurred. */
  blurSigma: number;
}

/** Sizes an augmentation works with, from the input size and the options. */
export interface Geometry {
  inputHeight: number;
  inputWidth: number;
  /** Size after `resize` (equal to the input's without it). */
  resizedHeight: number;
  resizedWidth: number;
  outputHeight: number;
  outputWidth: number;
}

function checkRange(range: readonly [number, number], what: string, lo = -Infinity): void {
  if (!Array.isArray(range) || range.length !== 2 || !(range[0] <= range[1]) || !(range[0] >= lo) || !Number.isFinite(range[1])) {
    throw new RangeError(`AugmentOptions.${what}: expected [lo, hi] with ${lo === -Infinity ? '' : `${lo} <= `}lo <= hi, got ${JSON.stringify(range)}`);
  }
}

function checkProbability(p: number, what: string): void {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`AugmentOptions.${what}: a probability in [0, 1] expected, got ${p}`);
}

export function geometryOf(inputHeight: number, inputWidth: number, options: AugmentOptions): Geometry {
  let resizedHeight = inputHeight;
  let resizedWidth = inputWidth;
  if (options.resize != null) {
    const s = options.resize;
    if (!Number.isInteger(s) || s <= 0) throw new RangeError(`AugmentOptions.resize: a positive integer expected, got ${s}`);
    // torchvision Resize(int): the short side becomes s, the long side int(s * long / short).
    if (inputHeight <= inputWidth) {
      resizedHeight = s;
      resizedWidth = Math.trunc((s * inputWidth) / inputHeight);
    } else {
      resizedWidth = s;
      resizedHeight = Math.trunc((s * inputHeight) / inputWidth);
    }
  }
  let outputHeight: number;
  let outputWidth: number;
  if (options.size == null) {
    outputHeight = options.resize ?? inputHeight;
    outputWidth = options.resize ?? inputWidth;
  } else if (typeof options.size === 'number') {
    outputHeight = outputWidth = options.size;
  } else {
    [outputHeight, outputWidth] = options.size;
  }
  if (!Number.isInteger(outputHeight) || outputHeight <= 0 || !Number.isInteger(outputWidth) || outputWidth <= 0) {
    throw new RangeError(`AugmentOptions.size: positive integers expected, got ${JSON.stringify(options.size)}`);
  }
  return { inputHeight, inputWidth, resizedHeight, resizedWidth, outputHeight, outputWidth };
}

/** Python's round() (half to even), which torchvision's CenterCrop uses. */
function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function drawResizedCrop(g: Geometry, o: ResizedCropOptions, rng: Rng): [number, number, number, number] {
  const H = g.resizedHeight;
  const W = g.resizedWidth;
  const area = H * W;
  const logLo = Math.log(o.ratio[0]);
  const logHi = Math.log(o.ratio[1]);
  // torchvision RandomResizedCrop.get_params: ten tries, then a centre crop clamped to the ratio range.
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(o.scale[0], o.scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = Math.round(Math.sqrt(targetArea * aspect));
    const h = Math.round(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= W && h > 0 && h <= H) {
      const y = rng.int(H - h + 1);
      const x = rng.int(W - w + 1);
      return [x, y, w, h];
    }
  }
  const inRatio = W / H;
  let w: number;
  let h: number;
  if (inRatio < o.ratio[0]) {
    w = W;
    h = Math.round(w / o.ratio[0]);
  } else if (inRatio > o.ratio[1]) {
    h = H;
    w = Math.round(h * o.ratio[1]);
  } else {
    w = W;
    h = H;
  }
  return [Math.floor((W - w) / 2), Math.floor((H - h) / 2), w, h];
}

/**
 * Draws every image's random choices, image by image, in a fixed order (crop, flip, rotation,
 * jitter, blur), so a seed fixes the whole batch on every backend.
 */
export function sampleAugmentParams(count: number, inputHeight: number, inputWidth: number, options: AugmentOptions, rng: Rng): AugmentParams[] {
  if (!Number.isInteger(count) || count <= 0) throw new RangeError(`sampleAugmentParams: count must be a positive integer, got ${count}`);
  const g = geometryOf(inputHeight, inputWidth, options);
  const padding = options.padding ?? 0;
  if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`AugmentOptions.padding: a non-negative integer expected, got ${padding}`);
  const flipP = options.flipProbability ?? 0;
  checkProbability(flipP, 'flipProbability');
  const rot = options.rotation ?? 0;
  const rotRange: readonly [number, number] = typeof rot === 'number' ? [-Math.abs(rot), Math.abs(rot)] : rot;
  checkRange(rotRange, 'rotation');
  const crop = options.crop ?? 'random';
  if (crop !== 'random' && crop !== 'center') throw new RangeError(`AugmentOptions.crop: 'random' or 'center' expected, got ${String(crop)}`);
  const rrc = options.resizedCrop ?? null;
  if (rrc) {
    checkRange(rrc.scale, 'resizedCrop.scale', 0);
    checkRange(rrc.ratio, 'resizedCrop.ratio', 0);
    if (rrc.scale[1] <= 0 || rrc.ratio[0] <= 0) throw new RangeError(`AugmentOptions.resizedCrop: scale and ratio must be positive, got ${JSON.stringify(rrc)}`);
  } else {
    const h = g.outputHeight;
    const w = g.outputWidth;
    const pad = crop === 'random' ? padding : 0;
    if (h > g.resizedHeight + 2 * pad || w > g.resizedWidth + 2 * pad) {
      throw new RangeError(
        `AugmentOptions.size: a ${h}x${w} crop does not fit the ${g.resizedHeight}x${g.resizedWidth} image` +
          (pad ? ` padded by ${pad}` : '') + '; lower size, or set resize or padding',
      );
    }
  }
  const jitter = options.colorJitter ?? null;
  if (jitter) {
    checkProbability(jitter.probability, 'colorJitter.probability');
    if (!(jitter.brightness >= 0) || !(jitter.contrast >= 0)) {
      throw new RangeError(`AugmentOptions.colorJitter: brightness and contrast must be >= 0, got ${jitter.brightness}, ${jitter.contrast}`);
    }
  }
  const blur = options.blur ?? null;
  if (blur) {
    checkProbability(blur.probability, 'blur.probability');
    checkRange(blur.sigma, 'blur.sigma', 0);
  }

  const params: AugmentParams[] = [];
  for (let i = 0; i < count; i++) {
    let cropX: number;
    let cropY: number;
    let cropWidth = g.outputWidth;
    let cropHeight = g.outputHeight;
    if (rrc) {
      [cropX, cropY, cropWidth, cropHeight] = drawResizedCrop(g, rrc, rng);
    } else if (crop === 'center') {
      cropX = roundHalfEven((g.resizedWidth - cropWidth) / 2);
      cropY = roundHalfEven((g.resizedHeight - cropHeight) / 2);
    } else {
      // RandomCrop: top then left, uniform over every integer position in the padded image.
      cropY = rng.int(g.resizedHeight + 2 * padding - cropHeight + 1) - padding;
      cropX = rng.int(g.resizedWidth + 2 * padding - cropWidth + 1) - padding;
    }
    const flip = flipP > 0 && rng.next() < flipP;
    const angle = rotRange[0] === rotRange[1] ? rotRange[0] : rng.uniform(rotRange[0], rotRange[1]);
    let brightness = 1;
    let contrast = 1;
    if (jitter && rng.next() < jitter.probability) {
      brightness = rng.uniform(Math.max(0, 1 - jitter.brightness), 1 + jitter.brightness);
      contrast = rng.uniform(Math.max(0, 1 - jitter.contrast), 1 + jitter.contrast);
    }
    let blurSigma = 0;
    if (blur && rng.next() < blur.probability) blurSigma = rng.uniform(blur.sigma[0], blur.sigma[1]);
    params.push({ cropX, cropY, cropWidth, cropHeight, flip, angle, brightness, contrast, blurSigma });
  }
  return params;
}

/** cos and sin with the exact 0 / ±1 at multiples of 90°, so right-angle rotations sample pixel centres exactly. */
function cosSinDegrees(deg: number): [number, number] {
  const r = (deg * Math.PI) / 180;
  const snap = (v: number) => (Math.abs(v) < 1e-12 ? 0 : Math.abs(Math.abs(v) - 1) < 1e-12 ? Math.sign(v) : v);
  return [snap(Math.cos(r)), snap(Math.sin(r))];
}

/**
 * The projective row `[a0, a1, a2, b0, b1, b2, 0, 0]` of tf.image.transform mapping an output pixel
 * (x, y) to its input position: x_in = a0 x + a1 y + a2, y_in = b0 x + b1 y + b2. Pixel centres sit
 * at integer coordinates; resizing uses half-pixel centres (as torchvision / PIL).
 */
export function warpMatrix(p: AugmentParams, g: Geometry): number[] {
  const wo = g.outputWidth;
  const ho = g.outputHeight;
  const cx = (wo - 1) / 2;
  const cy = (ho - 1) / 2;
  const [c, s] = cosSinDegrees(p.angle);
  // Undo the rotation about the output centre: a point up in the output comes from the right of the
  // centre in the flipped image when rotating counter-clockwise.
  // (x_a, y_a) = (c*(x-cx) - s*(y-cy) + cx, s*(x-cx) + c*(y-cy) + cy)
  let ax = c;
  let ay = -s;
  let a0 = -c * cx + s * cy + cx;
  let bx = s;
  let by = c;
  let b0 = -s * cx - c * cy + cy;
  if (p.flip) {
    // x_b = (wo - 1) - x_a
    ax = -ax;
    ay = -ay;
    a0 = wo - 1 - a0;
  }
  // Crop box → resized frame → input frame, as one scale and shift per axis.
  const sx = (p.cropWidth / wo) * (g.inputWidth / g.resizedWidth);
  const sy = (p.cropHeight / ho) * (g.inputHeight / g.resizedHeight);
  const tx = sx * 0.5 + p.cropX * (g.inputWidth / g.resizedWidth) - 0.5;
  const ty = sy * 0.5 + p.cropY * (g.inputHeight / g.resizedHeight) - 0.5;
  return [sx * ax, sx * ay, sx * a0 + tx, sy * bx, sy * by, sy * b0 + ty, 0, 0];
}

/** True when the warp is the identity on an image of the same size (nothing to resample). */
export function isIdentityWarp(m: readonly number[], g: Geometry): boolean {
  return (
    g.inputHeight === g.outputHeight &&
    g.inputWidth === g.outputWidth &&
    m[0] === 1 && m[1] === 0 && m[2] === 0 && m[3] === 0 && m[4] === 1 && m[5] === 0
  );
}
