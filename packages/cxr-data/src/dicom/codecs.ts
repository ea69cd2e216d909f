/// <reference path="./modules.d.ts" />
import { CxrDataError } from '../errors';

/** A decoded frame of one sample per pixel: its stored values and how the codec saw them. */
export interface CodecFrame {
  width: number;
  height: number;
  /** Stored pixel values, row-major (sign and bits as the codec returned them; masked and sign-extended later). */
  values: Int32Array;
  bitsPerSample: number;
}

/** The size and precision a compressed stream declares, read from its header before it is decoded. */
export interface StreamHeader {
  width: number;
  height: number;
  precision: number;
  components: number;
}

interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  readHeader?(): void;
  decode(): void;
  getFrameInfo(): { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean };
  getDecodedBuffer(): Uint8Array;
  delete?(): void;
}
type CodecModule = Record<string, new () => WasmDecoder>;
type CodecFactory = (options: { print: (s: string) => void; printErr: (s: string) => void }) => Promise<CodecModule>;

const factories: Record<'jpeg' | 'jpegls' | 'j2k', () => Promise<unknown>> = {
  jpeg: () => import('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs'),
  jpegls: () => import('@cornerstonejs/codec-charls/decodewasmjs'),
  j2k: () => import('@cornerstonejs/codec-openjpeg/decodewasmjs'),
};
const classes = { jpeg: 'JPEGDecoder', jpegls: 'JpegLSDecoder', j2k: 'J2KDecoder' } as const;
const modules = new Map<keyof typeof factories, Promise<CodecModule>>();
// The codecs' own messages (OpenJPEG's [INFO] lines, warnings) go here, never to the terminal: a library prints nothing.
let codecLog: string[] = [];

function loadCodec(kind: keyof typeof factories): Promise<CodecModule> {
  let p = modules.get(kind);
  if (!p) {
    p = factories[kind]().then((mod) => {
      const m = mod as { default?: unknown };
      const factory = (typeof m.default === 'function' ? m.default : (m.default as { default?: unknown })?.default ?? mod) as CodecFactory;
      const keep = (s: string) => {
        codecLog.push(s);
        if (codecLog.length > 20) codecLog.shift();
      };
      return factory({ print: keep, printErr: keep });
    });
    modules.set(kind, p);
    p.catch(() => modules.delete(kind));
  }
  return p;
}

/** Reads the SOF (JPEG, JPEG-LS) or SIZ (JPEG 2000) header; a stream without one is an error. */
export function streamHeader(kind: 'jpeg' | 'jpegls' | 'j2k', data: Uint8Array, file: string): StreamHeader {
  const u16 = (i: number) => (data[i] << 8) | data[i + 1];
  const u32 = (i: number) => ((data[i] << 24) | (data[i + 1] << 16) | (data[i + 2] << 8) | data[i + 3]) >>> 0;
  if (kind === 'j2k') {
    // A raw codestream starts SOC (FF4F) then SIZ (FF51); a JP2 file wraps it in boxes, so look for the SIZ marker.
    for (let i = 0; i + 40 < data.length && i < 1 << 16; i++) {
      if (data[i] === 0xff && data[i + 1] === 0x51) {
        const x = u32(i + 6) - u32(i + 14);
        const y = u32(i + 10) - u32(i + 18);
        const components = u16(i + 38);
        const precision = (data[i + 40] & 0x7f) + 1;
        return { width: x, height: y, precision, components };
      }
    }
    throw new CxrDataError(`${file}: the JPEG 2000 stream has no SIZ header (corrupt or truncated pixel data)`, file);
  }
  if (data[0] !== 0xff || data[1] !== 0xd8) throw new CxrDataError(`${file}: the ${kind === 'jpegls' ? 'JPEG-LS' : 'JPEG'} stream does not start with an SOI marker (corrupt pixel data)`, file);
  let i = 2;
  while (i + 4 <= data.length) {
    if (data[i] !== 0xff) {
      i++;
      continue;
    }
    const marker = data[i + 1];
    if (marker === 0xff) {
      i++;
      continue;
    }
    const length = u16(i + 2);
    // SOF0-SOF15 except DHT (C4), JPG (C8), DAC (CC); SOF55 (F7) is JPEG-LS.
    if ((marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) || marker === 0xf7) {
      if (i + 10 > data.length) break;
      return { precision: data[i + 4], height: u16(i + 5), width: u16(i + 7), components: data[i + 9] };
    }
    if (marker === 0xda || marker === 0xd9) break;
    i += 2 + length;
  }
  throw new CxrDataError(`${file}: the ${kind === 'jpegls' ? 'JPEG-LS' : 'JPEG'} stream has no frame header (corrupt or truncated pixel data)`, file);
}

/** Decodes one frame with a wasm codec (libjpeg-turbo, CharLS or OpenJPEG). */
export async function decodeWithCodec(kind: 'jpeg' | 'jpegls' | 'j2k', data: Uint8Array, file: string): Promise<CodecFrame> {
  const mod = await loadCodec(kind);
  const decoder = new mod[classes[kind]]();
  codecLog = [];
  try {
    decoder.getEncodedBuffer(data.length).set(data);
    decoder.decode();
    const info = decoder.getFrameInfo();
    if (info.componentCount !== 1) throw new CxrDataError(`${file}: the compressed frame has ${info.componentCount} colour components; a radiograph has one`, file);
    const raw = decoder.getDecodedBuffer();
    const n = info.width * info.height;
    const values = new Int32Array(n);
    if (info.bitsPerSample <= 8) {
      if (raw.length < n) throw new CxrDataError(`${file}: the codec returned ${raw.length} bytes for ${n} pixels`, file);
      for (let i = 0; i < n; i++) values[i] = info.isSigned ? (raw[i] << 24) >> 24 : raw[i];
    } else {
      if (raw.length < 2 * n) throw new CxrDataError(`${file}: the codec returned ${raw.length} bytes for ${n} 16-bit pixels`, file);
      const dv = new DataView(raw.buffer, raw.byteOffset, 2 * n);
      for (let i = 0; i < n; i++) values[i] = info.isSigned ? dv.getInt16(2 * i, true) : dv.getUint16(2 * i, true);
    }
    return { width: info.width, height: info.height, values, bitsPerSample: info.bitsPerSample };
  } catch (err) {
    if (err instanceof CxrDataError) throw err;
    // A wasm abort leaves the module unusable: the next file loads a fresh one.
    if ((err as Error)?.name === 'RuntimeError') modules.delete(kind);
    const said = codecLog.filter((l) => !/^\[INFO\]/.test(l)).slice(-3).join('; ');
    const what = typeof err === 'number' ? 'the codec threw an exception' : err instanceof Error ? err.message : String(err);
    throw new CxrDataError(`${file}: cannot decode the ${kind === 'jpeg' ? 'JPEG' : kind === 'jpegls' ? 'JPEG-LS' : 'JPEG 2000'} pixel data: ${what}${said ? ` (${said})` : ''}`, file);
  } finally {
    decoder.delete?.();
  }
}

/** JPEG lossless (process 14) with jpeg-lossless-decoder-js: 2 to 16 bits. */
export async function decodeJpegLossless(data: Uint8Array, file: string, header: StreamHeader): Promise<CodecFrame> {
  const { Decoder } = await import('jpeg-lossless-decoder-js');
  let out: ArrayLike<number>;
  try {
    const decoder = new Decoder();
    // It reads its input through a DataView: give it a private copy of exactly this frame.
    const copy = new Uint8Array(data);
    out = decoder.decode(copy.buffer, 0, copy.length);
  } catch (err) {
    throw new CxrDataError(`${file}: cannot decode the JPEG lossless pixel data: ${err instanceof Error ? err.message : String(err)}`, file);
  }
  const n = header.width * header.height;
  if (!out || out.length < n) throw new CxrDataError(`${file}: the JPEG lossless decoder returned ${out?.length ?? 0} values for ${n} pixels (corrupt pixel data)`, file);
  const values = new Int32Array(n);
  for (let i = 0; i < n; i++) values[i] = out[i];
  return { width: header.width, height: header.height, values, bitsPerSample: header.precision };
}

/** DICOM RLE (PS3.5 annex G): a 64-byte header of segment offsets, then PackBits segments, most significant byte first. */
export function decodeRle(data: Uint8Array, file: string, width: number, height: number, bitsAllocated: number): CodecFrame {
  const n = width * height;
  const bytesPerSample = bitsAllocated / 8;
  if (data.length < 64) throw new CxrDataError(`${file}: the RLE frame is ${data.length} bytes, shorter than its 64-byte header`, file);
  const dv = new DataView(data.buffer, data.byteOffset, data.length);
  const segments = dv.getUint32(0, true);
  if (segments !== bytesPerSample) throw new CxrDataError(`${file}: the RLE frame has ${segments} segments; ${bitsAllocated}-bit grey pixels need ${bytesPerSample}`, file);
  const values = new Int32Array(n);
  const plane = new Uint8Array(n);
  for (let s = 0; s < segments; s++) {
    const start = dv.getUint32(4 + 4 * s, true);
    const end = s + 1 < segments ? dv.getUint32(8 + 4 * s, true) : data.length;
    if (start < 64 || start > end || end > data.length) throw new CxrDataError(`${file}: RLE segment ${s + 1} spans bytes ${start}-${end} of a ${data.length}-byte frame`, file);
    let i = start;
    let o = 0;
    while (i < end && o < n) {
      const c = (data[i++] << 24) >> 24;
      if (c >= 0) {
        const count = c + 1;
        if (i + count > end) break;
        plane.set(data.subarray(i, i + Math.min(count, n - o)), o);
        o += count;
        i += count;
      } else if (c !== -128) {
        const count = 1 - c;
        if (i >= end) break;
        plane.fill(data[i++], o, Math.min(n, o + count));
        o += count;
      }
    }
    if (o < n) throw new CxrDataError(`${file}: RLE segment ${s + 1} holds ${o} of ${n} pixels (truncated or corrupt pixel data)`, file);
    const shift = 8 * (segments - 1 - s);
    for (let p = 0; p < n; p++) values[p] |= plane[p] << shift;
  }
  return { width, height, values, bitsPerSample: bitsAllocated };
}
