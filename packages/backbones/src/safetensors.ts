import * as tf from '@tensorflow/tfjs-core';
import { decodeElements, DTYPE_BYTES, isFileDType, tfDTypeToFile } from './dtypes';

export interface SafetensorsContent {
  /** Tensors in file order; the caller disposes them. */
  tensors: Map<string, tf.Tensor>;
  /** The `__metadata__` string map (empty when the file has none). */
  metadata: Record<string, string>;
}

/** Parses safetensors bytes: u64 little-endian header length, JSON header, then raw little-endian data. */
export function parseSafetensors(bytes: Uint8Array, what = 'safetensors data'): SafetensorsContent {
  if (bytes.byteLength < 8) throw new Error(`${what}: ${bytes.byteLength} bytes is too short for a safetensors header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > bytes.byteLength - 8) {
    throw new Error(`${what}: header length ${headerLen} exceeds the file size ${bytes.byteLength} (truncated or not safetensors)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (err) {
    throw new Error(`${what}: header is not valid JSON (${(err as Error).message})`);
  }
  const dataStart = 8 + headerLen;
  const dataLen = bytes.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, tf.Tensor>();
  try {
    for (const [name, entry] of Object.entries(header)) {
      if (name === '__metadata__') {
        for (const [k, v] of Object.entries((entry ?? {}) as Record<string, unknown>)) metadata[k] = String(v);
        continue;
      }
      const { dtype, shape, data_offsets: offsets } = (entry ?? {}) as { dtype: string; shape: number[]; data_offsets: [number, number] };
      if (!isFileDType(dtype)) throw new Error(`${what}: tensor '${name}' has unsupported dtype ${dtype}`);
      const natural = (v: unknown) => Number.isSafeInteger(v) && (v as number) >= 0;
      if (!Array.isArray(shape) || !shape.every(natural)) throw new Error(`${what}: tensor '${name}' has an invalid shape ${JSON.stringify(shape)} (expected non-negative integers)`);
      if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(natural)) {
        throw new Error(`${what}: tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
      }
      const count = shape.reduce((a, b) => a * b, 1);
      const [begin, end] = offsets;
      if (end - begin !== count * DTYPE_BYTES[dtype] || end > dataLen || begin < 0) {
        throw new Error(`${what}: tensor '${name}' [${shape}] ${dtype} has data_offsets [${begin}, ${end}] inconsistent with its shape or the ${dataLen}-byte data section`);
      }
      const decoded = decodeElements(bytes, dataStart + begin, dtype, count, `${what}: tensor '${name}'`);
      tensors.set(name, tf.tensor(decoded.values, shape, decoded.dtype));
    }
  } catch (err) {
    for (const t of tensors.values()) t.dispose();
    throw err;
  }
  return { tensors, metadata };
}

/** Serialises tensors to safetensors bytes as a list of chunks (header, then each tensor's data). */
export async function encodeSafetensors(
  tensors: ReadonlyMap<string, tf.Tensor> | Readonly<Record<string, tf.Tensor>>,
  metadata: Record<string, string> = {},
): Promise<Uint8Array[]> {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors as Record<string, tf.Tensor>);
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') throw new Error(`writeSafetensors: '__metadata__' is reserved and cannot name a tensor`);
    const dtype = tfDTypeToFile(t.dtype);
    const data = await t.data();
    const bytes =
      dtype === 'BOOL'
        ? Uint8Array.from(data as ArrayLike<number>, (v) => (v ? 1 : 0))
        : new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes.byteLength] };
    chunks.push(bytes);
    offset += bytes.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  const headerBytes = new Uint8Array(json.byteLength + ((8 - ((8 + json.byteLength) % 8)) % 8)).fill(0x20);
  headerBytes.set(json);
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  return [prefix, headerBytes, ...chunks];
}
