import * as dicomParserNs from 'dicom-parser';
import { CxrDataError } from '../errors';
import type { GreyImage } from '../decode';
import { type CodecFrame, decodeJpegLossless, decodeRle, decodeWithCodec, streamHeader } from './codecs';
import { decodeJpegSequential } from './jpeg12';
import { type DataSet, DICOM_LIMITS, type DicomHeader, type DicomLimits, TRANSFER_SYNTAXES, decimals, dicomText, parseDicomBytes } from './header';

const dicomParser = ((dicomParserNs as unknown as { default?: typeof dicomParserNs }).default ?? dicomParserNs) as typeof dicomParserNs;

const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.2']);

/** A DICOM radiograph as 8-bit grey, and what its header said about the pixels. */
export interface DicomGreyImage extends GreyImage {
  transferSyntax: string;
  bitsStored: number;
  photometricInterpretation: 'MONOCHROME1' | 'MONOCHROME2';
  /** Which VOI step was applied: the VOI LUT sequence, the first window, or none (min-max of the modality values). */
  voi: 'lut' | 'window' | 'none';
}

export type DicomDecodeOptions = DicomLimits;

/** A LUT from a Modality or VOI LUT sequence item: entries, first mapped value, bits per entry, data. */
interface Lut {
  entries: number;
  firstMap: number;
  depth: number;
  data: Uint16Array;
}

function readLut(ds: DataSet, seqTag: string, file: string, what: string): Lut | undefined {
  const seq = ds.elements[seqTag];
  const item = seq?.items?.[0]?.dataSet;
  if (!item) return undefined;
  const desc = item.elements.x00283002;
  const dataEl = item.elements.x00283006;
  if (!desc || !dataEl) return undefined;
  if (desc.length < 6) throw new CxrDataError(`${file}: the ${what} LUT descriptor (0028,3002) holds ${desc.length} bytes, not 3 values`, file);
  const entries = item.uint16('x00283002', 0) || 65536;
  // The first mapped value is US or SS by the pixel representation; pydicom reads it as US, as here.
  const firstMap = item.uint16('x00283002', 1)!;
  const depth = item.uint16('x00283002', 2)!;
  if (dataEl.length < 2 * entries) throw new CxrDataError(`${file}: the ${what} LUT data holds ${dataEl.length / 2} entries, its descriptor says ${entries}`, file);
  const data = new Uint16Array(entries);
  for (let i = 0; i < entries; i++) data[i] = item.uint16('x00283006', i)!;
  return { entries, firstMap, depth, data };
}

function applyLut(values: Float64Array, lut: Lut): void {
  const last = lut.entries - 1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    // Below the first mapped value: entry 0; past the table: the last entry (as pydicom's clip).
    const idx = v >= lut.firstMap ? Math.min(last, Math.trunc(v - lut.firstMap)) : 0;
    values[i] = lut.data[idx];
  }
}

/** Checks the header fields the pipeline needs; returns them with defaults filled in. */
function checkImageHeader(h: DicomHeader, file: string, limits: Required<DicomLimits>) {
  const name = TRANSFER_SYNTAXES[h.transferSyntax];
  if (!h.transferSyntax) throw new CxrDataError(`${file}: no transfer syntax UID (0002,0010) in the file meta information`, file);
  if (!name) throw new CxrDataError(`${file}: unknown transfer syntax ${h.transferSyntax}; read are ${Object.entries(TRANSFER_SYNTAXES).map(([u, n]) => `${n} (${u})`).join(', ')}`, file);
  if (!h.hasPixelData) throw new CxrDataError(`${file}: no pixel data (7FE0,0010): not an image (SOP class ${h.sopClassUid ?? 'unknown'})`, file);
  if (h.numberOfFrames !== undefined && h.numberOfFrames > 1) throw new CxrDataError(`${file}: a multi-frame object (${h.numberOfFrames} frames); a radiograph is one frame, multi-frame objects are not read`, file);
  if ((h.samplesPerPixel ?? 1) !== 1) throw new CxrDataError(`${file}: ${h.samplesPerPixel} samples per pixel (${h.photometricInterpretation ?? 'no photometric interpretation'}); a greyscale radiograph has 1`, file);
  const pi = h.photometricInterpretation;
  if (pi !== 'MONOCHROME1' && pi !== 'MONOCHROME2') throw new CxrDataError(`${file}: photometric interpretation ${pi ?? '(missing)'}; MONOCHROME1 or MONOCHROME2 expected of a radiograph`, file);
  const rows = h.rows ?? 0;
  const columns = h.columns ?? 0;
  if (!(rows > 0 && columns > 0)) throw new CxrDataError(`${file}: Rows x Columns is ${h.rows ?? '?'} x ${h.columns ?? '?'}; both must be positive`, file);
  if (rows * columns > limits.maxPixels) throw new CxrDataError(`${file}: ${columns} x ${rows} pixels is more than the limit of ${limits.maxPixels} (maxPixels); refused before decoding`, file);
  const bitsAllocated = h.bitsAllocated;
  if (bitsAllocated !== 8 && bitsAllocated !== 16) throw new CxrDataError(`${file}: ${bitsAllocated ?? 'no'} bits allocated; 8 or 16 are read`, file);
  const bitsStored = h.bitsStored ?? bitsAllocated;
  if (!(bitsStored >= 1 && bitsStored <= bitsAllocated)) throw new CxrDataError(`${file}: ${bitsStored} bits stored in ${bitsAllocated} allocated`, file);
  const highBit = h.highBit ?? bitsStored - 1;
  if (!(highBit >= bitsStored - 1 && highBit < bitsAllocated)) throw new CxrDataError(`${file}: high bit ${highBit} does not fit ${bitsStored} bits stored in ${bitsAllocated} allocated`, file);
  const signed = h.pixelRepresentation === 1;
  return { name, rows, columns, bitsAllocated, bitsStored, highBit, signed, photometric: pi as 'MONOCHROME1' | 'MONOCHROME2' };
}

/** The one frame's compressed bytes: every fragment of the pixel data, in order. */
function encapsulatedFrame(ds: DataSet, file: string): Uint8Array {
  const el = ds.elements.x7fe00010;
  if (!el.encapsulatedPixelData || !el.fragments || el.fragments.length === 0) throw new CxrDataError(`${file}: the transfer syntax is compressed but the pixel data holds no fragments`, file);
  for (const f of el.fragments) {
    if (f.position + f.length > ds.byteArray.length) throw new CxrDataError(`${file}: a pixel data fragment runs past the end of the file (truncated)`, file);
  }
  return dicomParser.readEncapsulatedPixelDataFromFragments(ds, el, 0, el.fragments.length) as Uint8Array;
}

async function storedValues(ds: DataSet, h: ReturnType<typeof checkImageHeader>, ts: string, file: string): Promise<Int32Array> {
  const n = h.rows * h.columns;
  if (NATIVE.has(ts)) {
    const el = ds.elements.x7fe00010;
    const bytes = h.bitsAllocated / 8;
    if (el.encapsulatedPixelData) throw new CxrDataError(`${file}: encapsulated pixel data in a native transfer syntax (${TRANSFER_SYNTAXES[ts]})`, file);
    if (el.length < n * bytes) throw new CxrDataError(`${file}: the pixel data holds ${el.length} bytes; ${h.columns} x ${h.rows} pixels of ${h.bitsAllocated} bits need ${n * bytes}`, file);
    if (el.dataOffset + n * bytes > ds.byteArray.length) throw new CxrDataError(`${file}: the pixel data runs past the end of the file (${ds.byteArray.length - el.dataOffset} of ${n * bytes} bytes; truncated)`, file);
    const out = new Int32Array(n);
    const src = ds.byteArray;
    const at = el.dataOffset;
    if (bytes === 1) for (let i = 0; i < n; i++) out[i] = src[at + i];
    else if (ts === '1.2.840.10008.1.2.2') for (let i = 0; i < n; i++) out[i] = (src[at + 2 * i] << 8) | src[at + 2 * i + 1];
    else for (let i = 0; i < n; i++) out[i] = src[at + 2 * i] | (src[at + 2 * i + 1] << 8);
    return out;
  }
  const data = encapsulatedFrame(ds, file);
  let frame: CodecFrame;
  if (ts === '1.2.840.10008.1.2.5') frame = decodeRle(data, file, h.columns, h.rows, h.bitsAllocated);
  else {
    const kind = ts === '1.2.840.10008.1.2.4.80' || ts === '1.2.840.10008.1.2.4.81' ? 'jpegls' : ts === '1.2.840.10008.1.2.4.90' || ts === '1.2.840.10008.1.2.4.91' ? 'j2k' : 'jpeg';
    // The stream's own header is checked before decoding: a 65535 x 65535 stream inside a small image never reaches the codec.
    const sh = streamHeader(kind, data, file);
    if (sh.width !== h.columns || sh.height !== h.rows) throw new CxrDataError(`${file}: the compressed stream is ${sh.width} x ${sh.height} pixels, the DICOM header says ${h.columns} x ${h.rows}`, file);
    if (sh.components !== 1) throw new CxrDataError(`${file}: the compressed stream has ${sh.components} components; a greyscale radiograph has 1`, file);
    if (kind === 'jpeg' && (ts === '1.2.840.10008.1.2.4.57' || ts === '1.2.840.10008.1.2.4.70')) frame = await decodeJpegLossless(data, file, sh);
    // libjpeg-turbo's build here is 8-bit: 12-bit JPEG extended takes the sequential decoder with IJG's integer IDCT.
    else if (kind === 'jpeg' && sh.precision > 8) frame = decodeJpegSequential(data, file);
    else frame = await decodeWithCodec(kind, data, file);
  }
  if (frame.width !== h.columns || frame.height !== h.rows) throw new CxrDataError(`${file}: decoded ${frame.width} x ${frame.height} pixels, the DICOM header says ${h.columns} x ${h.rows}`, file);
  return frame.values;
}

/**
 * Decodes a DICOM radiograph to 8-bit grey the way pydicom's usual recipe does: stored values (bits
 * stored, signed or not), the modality LUT (LUT sequence, or rescale slope / intercept), then the VOI
 * LUT sequence or else the first window centre / width (LINEAR, LINEAR_EXACT, SIGMOID), then min-max
 * to 0-255; MONOCHROME1 is inverted so that bone is bright. Multi-frame objects are refused.
 */
export async function decodeDicomBytes(bytes: Uint8Array, file: string, options: DicomDecodeOptions = {}): Promise<DicomGreyImage> {
  const limits = { ...DICOM_LIMITS, ...options };
  const { dataSet: ds, header } = parseDicomBytes(bytes, file, limits);
  const h = checkImageHeader(header, file, limits);
  const stored = await storedValues(ds, h, header.transferSyntax, file);
  const n = stored.length;
  // Only bits stored count (from the high bit down); a signed value is sign-extended from its top bit.
  const shift = h.highBit + 1 - h.bitsStored;
  const mask = h.bitsStored >= 32 ? -1 : (1 << h.bitsStored) - 1;
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let v = (stored[i] >> shift) & mask;
    if (h.signed && v & (1 << (h.bitsStored - 1))) v -= 1 << h.bitsStored;
    values[i] = v;
  }
  // Modality LUT.
  const modalityLut = readLut(ds, 'x00283000', file, 'modality');
  const slopes = decimals(ds, 'x00281053', file, 'RescaleSlope');
  const intercepts = decimals(ds, 'x00281052', file, 'RescaleIntercept');
  const rescaled = slopes !== undefined && intercepts !== undefined;
  if (modalityLut) applyLut(values, modalityLut);
  else if (rescaled) {
    const m = slopes[0];
    const b = intercepts[0];
    for (let i = 0; i < n; i++) values[i] = values[i] * m + b;
  }
  // VOI: the LUT sequence first (pydicom's prefer_lut), else the first window.
  const voiLut = readLut(ds, 'x00283010', file, 'VOI');
  const centers = decimals(ds, 'x00281050', file, 'WindowCenter');
  const widths = decimals(ds, 'x00281051', file, 'WindowWidth');
  let voi: DicomGreyImage['voi'] = 'none';
  if (voiLut) {
    if (voiLut.depth !== 8 && !(voiLut.depth >= 10 && voiLut.depth <= 16)) throw new CxrDataError(`${file}: VOI LUT entries of ${voiLut.depth} bits; 8 or 10 to 16 are read`, file);
    applyLut(values, voiLut);
    voi = 'lut';
  } else if (centers !== undefined && widths !== undefined) {
    let center = centers[0];
    let width = widths[0];
    const fn = (dicomText(ds, 'x00281056') ?? 'LINEAR').toUpperCase();
    // The output range pydicom maps the window to; min-max follows, but its sign (a negative slope) carries through.
    let yMin: number;
    let yMax: number;
    if (modalityLut) {
      yMin = 0;
      yMax = 2 ** modalityLut.depth - 1;
    } else if (!h.signed) {
      yMin = 0;
      yMax = 2 ** h.bitsStored - 1;
    } else {
      yMin = -(2 ** (h.bitsStored - 1));
      yMax = 2 ** (h.bitsStored - 1) - 1;
    }
    if (rescaled) {
      yMin = yMin * slopes[0] + intercepts[0];
      yMax = yMax * slopes[0] + intercepts[0];
    }
    const yRange = yMax - yMin;
    if (fn === 'LINEAR' || fn === 'LINEAR_EXACT') {
      if (fn === 'LINEAR') {
        if (width < 1) throw new CxrDataError(`${file}: WindowWidth ${width} is below 1, which a LINEAR window needs`, file);
        center -= 0.5;
        width -= 1;
      } else if (width <= 0) throw new CxrDataError(`${file}: WindowWidth ${width} must be above 0 for LINEAR_EXACT`, file);
      const lo = center - width / 2;
      const hi = center + width / 2;
      for (let i = 0; i < n; i++) {
        const v = values[i];
        values[i] = v <= lo ? yMin : v > hi ? yMax : ((v - center) / width + 0.5) * yRange + yMin;
      }
    } else if (fn === 'SIGMOID') {
      if (width <= 0) throw new CxrDataError(`${file}: WindowWidth ${width} must be above 0 for SIGMOID`, file);
      for (let i = 0; i < n; i++) values[i] = yRange / (1 + Math.exp((-4 * (values[i] - center)) / width)) + yMin;
    } else throw new CxrDataError(`${file}: VOI LUT function ${JSON.stringify(fn)}; LINEAR, LINEAR_EXACT or SIGMOID are read`, file);
    voi = 'window';
  }
  // Min-max to 0-255, then MONOCHROME1 (low values bright) inverted.
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    if (values[i] < lo) lo = values[i];
    if (values[i] > hi) hi = values[i];
  }
  const scale = hi > lo ? 255 / (hi - lo) : 0;
  const invert = h.photometric === 'MONOCHROME1';
  const data = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const g = Math.round((values[i] - lo) * scale);
    data[i] = invert ? 255 - g : g;
  }
  return { width: h.columns, height: h.rows, data, transferSyntax: header.transferSyntax, bitsStored: h.bitsStored, photometricInterpretation: h.photometric, voi };
}
