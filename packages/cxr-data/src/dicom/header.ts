import * as dicomParserNs from 'dicom-parser';
import type { DataSet, Element } from 'dicom-parser';
import { CxrDataError } from '../errors';
import { InflateLimitError, inflateRaw } from './inflate';

// dicom-parser is a UMD bundle: Node's ESM loader exposes it as the default export only.
const dicomParser = ((dicomParserNs as unknown as { default?: typeof dicomParserNs }).default ?? dicomParserNs) as typeof dicomParserNs;

/** Transfer syntaxes read, by UID. */
export const TRANSFER_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2': 'implicit VR little endian',
  '1.2.840.10008.1.2.1': 'explicit VR little endian',
  '1.2.840.10008.1.2.1.99': 'deflated explicit VR little endian',
  '1.2.840.10008.1.2.2': 'explicit VR big endian',
  '1.2.840.10008.1.2.4.50': 'JPEG baseline (process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG extended (process 2 and 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG lossless (process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG lossless (process 14, selection value 1)',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS near-lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 lossless',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000',
  '1.2.840.10008.1.2.5': 'RLE lossless',
};

/** Modalities of projection radiographs: computed radiography, digital radiography, radiographic imaging. */
export const RADIOGRAPH_MODALITIES = ['CR', 'DX', 'RG'] as const;

/** Limits that keep a hostile file from taking the memory of the process. */
export interface DicomLimits {
  /** Rows x Columns above this are refused before any pixel is decoded. Default 2^26 (8192 x 8192). */
  maxPixels?: number;
  /** A deflated data set that inflates past this many bytes is refused. Default 512 MiB. */
  maxInflatedBytes?: number;
}

export const DICOM_LIMITS: Required<DicomLimits> = { maxPixels: 2 ** 26, maxInflatedBytes: 512 * 2 ** 20 };

/** What the loader and the pixel pipeline read from a DICOM header. Identifiers stay in memory: callers hash them. */
export interface DicomHeader {
  transferSyntax: string;
  sopClassUid?: string;
  sopInstanceUid?: string;
  modality?: string;
  patientId?: string;
  studyInstanceUid?: string;
  viewPosition?: string;
  rows?: number;
  columns?: number;
  bitsAllocated?: number;
  bitsStored?: number;
  highBit?: number;
  pixelRepresentation?: number;
  samplesPerPixel?: number;
  photometricInterpretation?: string;
  numberOfFrames?: number;
  hasPixelData: boolean;
}

/** True when `bytes` is a DICOM Part 10 file (128-byte preamble, then `DICM`). */
export function isDicomBytes(bytes: Uint8Array): boolean {
  return bytes.length >= 132 && bytes[128] === 0x44 && bytes[129] === 0x49 && bytes[130] === 0x43 && bytes[131] === 0x4d;
}

/** dicom-parser throws strings as well as Errors. */
function messageOf(err: unknown): string {
  if (typeof err === 'string') return err;
  if (err instanceof Error) return err.message;
  // Some of its errors are objects holding the message and the elements parsed so far.
  const e = err as { exception?: unknown; message?: unknown } | null;
  if (e && typeof e === 'object' && (typeof e.exception === 'string' || typeof e.message === 'string')) return String(e.exception ?? e.message);
  return String(err);
}

/** The parsed data set and the bytes its element offsets refer to (the inflated ones for a deflated file). */
export interface ParsedDicom {
  dataSet: DataSet;
  header: DicomHeader;
}

/**
 * Parses a DICOM Part 10 file. `untilPixelData` stops before the pixel data (enough for the loader);
 * a deflated data set is inflated with a size cap, so a deflate bomb is an error, not an out-of-memory.
 */
export function parseDicomBytes(bytes: Uint8Array, file: string, options: DicomLimits & { untilPixelData?: boolean } = {}): ParsedDicom {
  if (!isDicomBytes(bytes)) throw new CxrDataError(`${file} is not a DICOM file (no DICM marker at byte 128; ${bytes.length} bytes)`, file);
  const maxInflated = options.maxInflatedBytes ?? DICOM_LIMITS.maxInflatedBytes;
  let dataSet: DataSet;
  try {
    dataSet = dicomParser.parseDicom(bytes, {
      ...(options.untilPixelData ? { untilTag: 'x7fe00010' } : {}),
      inflater: (byteArray: Uint8Array, position: number) => {
        let inflated: Uint8Array;
        try {
          inflated = inflateRaw(byteArray.subarray(position), maxInflated);
        } catch (err) {
          if (err instanceof InflateLimitError) {
            throw new CxrDataError(`the deflated data set inflates past ${maxInflated} bytes (maxInflatedBytes); refused as a possible deflate bomb`);
          }
          throw new CxrDataError(`the deflated data set does not inflate: ${messageOf(err)}`);
        }
        const full = new Uint8Array(position + inflated.length);
        full.set(byteArray.subarray(0, position));
        full.set(inflated, position);
        return full;
      },
    } as Parameters<typeof dicomParser.parseDicom>[1]);
  } catch (err) {
    const reason = messageOf(err).replace(/^dicomParser[.:]\w+: /, '');
    throw new CxrDataError(`cannot parse DICOM file ${file}: ${reason}${/past end|buffer overrun|end of buffer/i.test(reason) ? ' (truncated, or an element length runs past the end of the file)' : ''}`, file);
  }
  return { dataSet, header: readHeader(dataSet) };
}

function text(ds: DataSet, tag: string): string | undefined {
  const v = ds.string(tag);
  return v === undefined || v === '' ? undefined : v.trim();
}

function us(ds: DataSet, tag: string): number | undefined {
  const el = ds.elements[tag];
  if (!el || el.length < 2) return undefined;
  return ds.uint16(tag);
}

function readHeader(ds: DataSet): DicomHeader {
  const frames = text(ds, 'x00280008');
  return {
    transferSyntax: text(ds, 'x00020010') ?? '',
    sopClassUid: text(ds, 'x00080016') ?? text(ds, 'x00020002'),
    sopInstanceUid: text(ds, 'x00080018') ?? text(ds, 'x00020003'),
    modality: text(ds, 'x00080060')?.toUpperCase(),
    patientId: text(ds, 'x00100020'),
    studyInstanceUid: text(ds, 'x0020000d'),
    viewPosition: text(ds, 'x00185101')?.toUpperCase(),
    rows: us(ds, 'x00280010'),
    columns: us(ds, 'x00280011'),
    bitsAllocated: us(ds, 'x00280100'),
    bitsStored: us(ds, 'x00280101'),
    highBit: us(ds, 'x00280102'),
    pixelRepresentation: us(ds, 'x00280103'),
    samplesPerPixel: us(ds, 'x00280002'),
    photometricInterpretation: text(ds, 'x00280004')?.toUpperCase(),
    numberOfFrames: frames === undefined ? undefined : Number(frames),
    hasPixelData: ds.elements.x7fe00010 !== undefined,
  };
}

/** All values of a decimal-string element (`40\400`), or undefined when absent or empty. */
export function decimals(ds: DataSet, tag: string, file: string, name: string): number[] | undefined {
  const v = text(ds, tag);
  if (v === undefined) return undefined;
  const out = v.split('\\').map((s) => Number(s.trim()));
  if (out.some((x) => !Number.isFinite(x))) throw new CxrDataError(`${file}: ${name} (${tag.slice(1, 5)},${tag.slice(5)}) is ${JSON.stringify(v)}, not a number`, file);
  return out;
}

export { text as dicomText };
export type { DataSet, Element };
