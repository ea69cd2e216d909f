// Image decoding in a browser: PNG and JPEG through the browser's own decoders (createImageBitmap and
// a 2D canvas), DICOM through decodeDicomBytes; the same grey conversion as the Node decoders.
import { CxrDataError } from './errors';
import { isDicomBytes } from './dicom/header';
import { decodeDicomBytes } from './dicom/pixels';
import { checkImageBytes, toGrey, type GreyImage } from './grey';

// The DOM shapes this file touches (the package's types leave out the DOM lib).
/** An ImageData: RGBA bytes, row-major. */
export interface ImageDataLike {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8ClampedArray | Uint8Array;
}
/** An ImageBitmap (or anything a 2D canvas draws: an <img>, a <canvas>, a VideoFrame). */
export interface ImageBitmapLike {
  readonly width: number;
  readonly height: number;
  close?(): void;
}
/** What decodeImageInput takes: a dropped File or any Blob, an ImageBitmap, an ImageData, or the file's bytes. */
export type ImageInput = Blob | ImageBitmapLike | ImageDataLike | Uint8Array | ArrayBuffer;

export interface DecodeInputOptions {
  /** Names the image in errors; default the File's name, else 'image'. */
  name?: string;
}

interface Canvas2d {
  drawImage(image: unknown, x: number, y: number): void;
  getImageData(x: number, y: number, w: number, h: number): ImageDataLike;
}
type BrowserGlobals = {
  createImageBitmap?: (blob: Blob, options?: Record<string, string>) => Promise<ImageBitmapLike>;
  OffscreenCanvas?: new (w: number, h: number) => { getContext(kind: '2d', options?: Record<string, unknown>): Canvas2d | null };
};

function isImageData(x: unknown): x is ImageDataLike {
  return typeof x === 'object' && x !== null && 'data' in x && 'width' in x && 'height' in x;
}

/** RGBA pixels of a decoded image, drawn unscaled on an offscreen 2D canvas. */
function pixelsOf(image: ImageBitmapLike, name: string): ImageDataLike {
  const g = globalThis as BrowserGlobals;
  if (!g.OffscreenCanvas) throw new CxrDataError(`cannot read the pixels of ${name}: this runtime has no OffscreenCanvas`, name);
  const ctx = new g.OffscreenCanvas(image.width, image.height).getContext('2d', { willReadFrequently: true });
  if (!ctx) throw new CxrDataError(`cannot read the pixels of ${name}: no 2D canvas context`, name);
  ctx.drawImage(image, 0, 0);
  return ctx.getImageData(0, 0, image.width, image.height);
}

function greyOf(rgba: ImageDataLike, name: string): GreyImage {
  const { width, height, data } = rgba;
  if (data.length !== width * height * 4) throw new CxrDataError(`${name}: ImageData of ${width}x${height} holds ${data.length} bytes, expected ${width * height * 4} (RGBA)`, name);
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.length);
  return { width, height, data: toGrey(bytes, width, height, 4) };
}

/**
 * Decodes PNG / JPEG bytes (8 or 16 bit, grey or colour) with the browser's decoder, or a DICOM
 * radiograph, to grey uint8: the grey levels the Node decoders give, within 1. Embedded colour
 * profiles are not applied (as jimp and sharp's raw output); `file` names the source in errors.
 */
export async function decodeImageBytes(bytes: Uint8Array, file: string): Promise<GreyImage> {
  if (isDicomBytes(bytes)) return decodeDicomBytes(bytes, file);
  const kind = checkImageBytes(bytes, file);
  const g = globalThis as BrowserGlobals;
  if (!g.createImageBitmap) throw new CxrDataError(`cannot decode ${file}: this runtime has no createImageBitmap (decodeImageBytes from the Node entry reads files in Node)`, file);
  let bitmap: ImageBitmapLike;
  try {
    const blob = new Blob([bytes as Uint8Array<ArrayBuffer>], { type: kind === 'png' ? 'image/png' : 'image/jpeg' });
    bitmap = await g.createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none', imageOrientation: 'from-image' });
  } catch (err) {
    throw new CxrDataError(`cannot decode ${file} with the browser's ${kind.toUpperCase()} decoder: ${(err as Error).message}`, file);
  }
  try {
    return greyOf(pixelsOf(bitmap, file), file);
  } finally {
    bitmap.close?.();
  }
}

/** Decodes a dropped File, a Blob, an ImageBitmap, an ImageData, or a file's bytes (PNG, JPEG, DICOM) to grey uint8. */
export async function decodeImageInput(input: ImageInput, options: DecodeInputOptions = {}): Promise<GreyImage> {
  const fileName = (input as { name?: unknown }).name;
  const name = options.name ?? (typeof fileName === 'string' && fileName !== '' ? fileName : 'image');
  if (input instanceof Uint8Array) return decodeImageBytes(input, name);
  if (input instanceof ArrayBuffer) return decodeImageBytes(new Uint8Array(input), name);
  if (typeof Blob === 'function' && input instanceof Blob) return decodeImageBytes(new Uint8Array(await input.arrayBuffer()), name);
  if (isImageData(input)) return greyOf(input, name);
  if (typeof input === 'object' && input !== null && typeof (input as ImageBitmapLike).width === 'number') return greyOf(pixelsOf(input as ImageBitmapLike, name), name);
  throw new CxrDataError(`${name}: expected a File, Blob, ImageBitmap, ImageData, Uint8Array or ArrayBuffer, got ${Object.prototype.toString.call(input)}`, name);
}
