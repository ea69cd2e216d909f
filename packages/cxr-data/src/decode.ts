import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { CxrDataError } from './errors';
import { isDicomBytes } from './dicom/header';
import { decodeDicomBytes } from './dicom/pixels';
import { checkImageBytes, toGrey, type GreyImage } from './grey';

export { checkImageBytes, cropGrey, resizeGrey, resizeShortSideAndCrop } from './grey';
export type { GreyImage, ResizeCropOptions } from './grey';

export type DecoderName = 'jimp' | 'sharp';

export interface DecodeOptions {
  /** 'jimp' (pure JS, always there), 'sharp' (libvips, optional; 2.5x jimp's rate in buildImageCache, docs/benchmarks/cxr-data.md) or 'auto' (sharp when installed). */
  decoder?: DecoderName | 'auto';
}

type SharpFactory = (input: Buffer, options?: { failOn?: string }) => {
  raw(): { toBuffer(options: { resolveWithObject: true }): Promise<{ data: Buffer; info: { width: number; height: number; channels: number } }> };
};
type JimpClass = { fromBuffer(buffer: Buffer): Promise<{ bitmap: { width: number; height: number; data: Buffer } }> };

let sharpModule: SharpFactory | null | undefined;
let jimpModule: JimpClass | undefined;

function loadSharp(): SharpFactory | null {
  if (sharpModule === undefined) {
    try {
      // sharp is an optional dependency: its absence must not break the package.
      // ESM (source and build) has import.meta.url; in the CJS build it is empty and __filename serves.
      const here: string | undefined = import.meta.url;
      const req = createRequire(typeof here === 'string' && here !== '' ? here : __filename);
      const mod = req('sharp');
      sharpModule = (mod.default ?? mod) as SharpFactory;
    } catch {
      sharpModule = null;
    }
  }
  return sharpModule;
}

async function loadJimp(): Promise<JimpClass> {
  if (!jimpModule) jimpModule = (await import('jimp')).Jimp as unknown as JimpClass;
  return jimpModule;
}

/** True when the optional sharp decoder is installed and loads. */
export function sharpAvailable(): boolean {
  return loadSharp() !== null;
}

/** The decoder `decoder` resolves to ('auto' -> sharp when installed, else jimp). */
export function resolveDecoder(decoder: DecoderName | 'auto' = 'auto'): DecoderName {
  if (decoder === 'auto') return sharpAvailable() ? 'sharp' : 'jimp';
  if (decoder !== 'jimp' && decoder !== 'sharp') throw new CxrDataError(`unknown decoder ${JSON.stringify(decoder)}; expected 'jimp', 'sharp' or 'auto'`);
  if (decoder === 'sharp' && !sharpAvailable()) throw new CxrDataError(`decoder 'sharp' was asked for but the optional package sharp is not installed (npm install sharp), or use decoder 'jimp'`);
  return decoder;
}

/** Decodes PNG / JPEG bytes (8 or 16 bit, grey or colour) or a DICOM radiograph to grey uint8. `file` names the source in errors. */
export async function decodeImageBytes(bytes: Uint8Array, file: string, options: DecodeOptions = {}): Promise<GreyImage> {
  // DICOM radiographs take their own pipeline (bits stored, rescale, VOI), not a grey conversion.
  if (isDicomBytes(bytes)) return decodeDicomBytes(bytes, file);
  checkImageBytes(bytes, file);
  const decoder = resolveDecoder(options.decoder);
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  try {
    if (decoder === 'sharp') {
      // 16-bit inputs come out scaled to 8 bit; 'truncated' makes short files fail instead of decoding grey.
      const { data, info } = await loadSharp()!(buf, { failOn: 'truncated' }).raw().toBuffer({ resolveWithObject: true });
      return { width: info.width, height: info.height, data: toGrey(data, info.width, info.height, info.channels) };
    }
    const Jimp = await loadJimp();
    const image = await Jimp.fromBuffer(buf);
    const { width, height, data } = image.bitmap;
    return { width, height, data: toGrey(data, width, height, 4) };
  } catch (err) {
    if (err instanceof CxrDataError) throw err;
    throw new CxrDataError(`cannot decode ${file} with ${decoder}: ${(err as Error).message}`, file);
  }
}

/** Reads and decodes one PNG / JPEG file to grey uint8. */
export async function decodeImage(path: string, options: DecodeOptions = {}): Promise<GreyImage> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    throw new CxrDataError(`cannot read image ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, path);
  }
  return decodeImageBytes(bytes, path, options);
}
