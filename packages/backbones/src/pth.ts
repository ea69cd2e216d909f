import { inflateRawSync } from 'node:zlib';
import { decodeElements, DTYPE_BYTES } from './dtypes';
import { storageFromPid, unpickle, type PickleValue, type StorageRef, type TensorRef } from './pickle';

/** A decoded tensor in torch layout, before it becomes a tfjs tensor. */
export interface RawTensor {
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  values: Float32Array | Int32Array | Uint8Array;
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

function readZipDirectory(buf: Uint8Array, what: string): Map<string, ZipEntry> {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let eocd = -1;
  for (let i = buf.byteLength - 22; i >= Math.max(0, buf.byteLength - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${what}: no zip end-of-central-directory record (file truncated?)`);
  let count = view.getUint16(eocd + 10, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  // ZIP64: the locator sits just before the classic record and points at the zip64 record.
  if ((cdOffset === 0xffffffff || count === 0xffff) && eocd >= 20 && view.getUint32(eocd - 20, true) === 0x07064b50) {
    const z64 = Number(view.getBigUint64(eocd - 20 + 8, true));
    count = Number(view.getBigUint64(z64 + 32, true));
    cdOffset = Number(view.getBigUint64(z64 + 48, true));
  }
  const entries = new Map<string, ZipEntry>();
  let p = cdOffset;
  const decoder = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (view.getUint32(p, true) !== 0x02014b50) throw new Error(`${what}: bad zip central directory entry ${i} at byte ${p}`);
    const method = view.getUint16(p + 10, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let localOffset = view.getUint32(p + 42, true);
    const name = decoder.decode(buf.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: 64-bit values for the fields saturated at 0xffffffff, in order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = view.getUint16(e, true);
      const len = view.getUint16(e + 2, true);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) (size = Number(view.getBigUint64(q, true))), (q += 8);
        if (compressedSize === 0xffffffff) (compressedSize = Number(view.getBigUint64(q, true))), (q += 8);
        if (localOffset === 0xffffffff) localOffset = Number(view.getBigUint64(q, true));
      }
      e += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size, localOffset });
    p = extraEnd + commentLen;
  }
  return entries;
}

/**
 * What a deflated entry may claim to inflate to: weights barely compress, a zip bomb compresses ~1000x.
 * 32x its compressed size plus 1 MiB lets small all-zero storages (fresh BatchNorm statistics) through.
 */
export function maxInflatedBytes(compressedSize: number): number {
  return compressedSize * 32 + (1 << 20);
}

function readZipEntry(buf: Uint8Array, entry: ZipEntry, what: string): Uint8Array {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const p = entry.localOffset;
  if (view.getUint32(p, true) !== 0x04034b50) throw new Error(`${what}: bad local header for ${entry.name}`);
  const start = p + 30 + view.getUint16(p + 26, true) + view.getUint16(p + 28, true);
  const raw = buf.subarray(start, start + entry.compressedSize);
  if (raw.byteLength !== entry.compressedSize) throw new Error(`${what}: ${entry.name} is truncated`);
  if (entry.method === 0) return raw;
  if (entry.method === 8) {
    if (!(entry.size <= maxInflatedBytes(entry.compressedSize))) {
      throw new Error(`${what}: zip entry ${entry.name} claims to inflate from ${entry.compressedSize} to ${entry.size} bytes, more than weights can compress (refused as a zip bomb)`);
    }
    let out: Buffer;
    try {
      // Never inflate past the size the directory declares (itself bounded above).
      out = inflateRawSync(raw, { maxOutputLength: Math.max(1, entry.size) });
    } catch (err) {
      throw new Error(`${what}: zip entry ${entry.name} does not inflate to its declared ${entry.size} bytes (${(err as Error).message})`);
    }
    if (out.byteLength !== entry.size) throw new Error(`${what}: zip entry ${entry.name} inflates to ${out.byteLength} bytes, its directory declares ${entry.size}`);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }
  throw new Error(`${what}: ${entry.name} uses zip compression method ${entry.method}; only stored and deflate are read`);
}

function isTensorRef(v: PickleValue): v is TensorRef {
  return typeof v === 'object' && v !== null && (v as TensorRef).kind === 'tensor';
}

/** Finds the tensor dictionary: the object itself, or a checkpoint's `state_dict` / `model` entry. */
function findStateDict(obj: PickleValue, what: string): Map<string, TensorRef> {
  if (!(obj instanceof Map)) throw new Error(`${what}: top-level object is not a dict (got ${Array.isArray(obj) ? 'a list' : typeof obj})`);
  const values = [...obj.values()];
  if (values.length > 0 && values.some(isTensorRef)) {
    const out = new Map<string, TensorRef>();
    for (const [k, v] of obj) if (isTensorRef(v)) out.set(String(k), v);
    return out;
  }
  for (const key of ['state_dict', 'model_state_dict', 'model', 'net']) {
    if (obj.has(key)) return findStateDict(obj.get(key)!, `${what} ['${key}']`);
  }
  throw new Error(`${what}: no tensors found; top-level keys are ${[...obj.keys()].map(String).join(', ')} (expected a state_dict or a checkpoint with 'state_dict')`);
}

function materialise(ref: TensorRef, storageBytes: Uint8Array, what: string): RawTensor {
  const { shape, stride, offset, storage } = ref;
  const natural = (v: number) => Number.isSafeInteger(v) && v >= 0;
  if (!Array.isArray(shape) || !shape.every(natural) || !Array.isArray(stride) || stride.length !== shape.length || !stride.every(natural) || !natural(offset)) {
    throw new Error(`${what}: invalid tensor geometry (shape [${shape}], stride [${stride}], offset ${offset})`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  // A tensor may not declare more elements than its storage holds (a stride-0 view would allocate them all).
  const held = Math.floor(storageBytes.byteLength / DTYPE_BYTES[storage.dtype]);
  if (count > held) {
    throw new Error(`${what}: declares ${count} elements (shape [${shape}], stride [${stride}]) but its storage holds ${held}; refused`);
  }
  let contiguous = true;
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= shape[d];
  }
  let index: ((i: number) => number) | undefined;
  if (!contiguous) {
    // Strided view (e.g. a transposed tensor): walk the shape and map each element to its storage index.
    index = (i: number) => {
      let rem = i;
      let at = 0;
      for (let d = shape.length - 1; d >= 0; d--) {
        at += (rem % shape[d]) * stride[d];
        rem = Math.floor(rem / shape[d]);
      }
      return at;
    };
  }
  const decoded = decodeElements(
    storageBytes,
    offset * DTYPE_BYTES[storage.dtype],
    storage.dtype,
    count,
    what,
    index,
  );
  return { shape, ...decoded };
}

const ZIP_MAGIC = 0x04034b50;

/**
 * Reads the tensors of a PyTorch `torch.save` file (zip format of torch >= 1.6, or the legacy
 * format torchvision's older weight files use) in torch layout, keyed as saved.
 */
export function parsePth(buf: Uint8Array, what = 'pth data'): Map<string, RawTensor> {
  if (buf.byteLength < 4) throw new Error(`${what}: too short to be a PyTorch file`);
  const magic = new DataView(buf.buffer, buf.byteOffset, 4).getUint32(0, true);
  return magic === ZIP_MAGIC ? parseZipPth(buf, what) : parseLegacyPth(buf, what);
}

function parseZipPth(buf: Uint8Array, what: string): Map<string, RawTensor> {
  const entries = readZipDirectory(buf, what);
  const pkl = [...entries.keys()].find((n) => n === 'data.pkl' || n.endsWith('/data.pkl'));
  if (!pkl) throw new Error(`${what}: zip has no data.pkl (entries: ${[...entries.keys()].slice(0, 10).join(', ')})`);
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  const { value } = unpickle(readZipEntry(buf, entries.get(pkl)!, what), 0, {
    source: `${what}: ${pkl}`,
    persistentLoad: (pid) => storageFromPid(pid, what),
  });
  const refs = findStateDict(value, what);
  const storages = new Map<string, Uint8Array>();
  const out = new Map<string, RawTensor>();
  for (const [name, ref] of refs) {
    const key = ref.storage.key;
    let bytes = storages.get(key);
    if (!bytes) {
      const entry = entries.get(`${prefix}data/${key}`);
      if (!entry) throw new Error(`${what}: tensor '${name}' refers to storage data/${key}, which the archive lacks`);
      bytes = readZipEntry(buf, entry, what);
      storages.set(key, bytes);
    }
    out.set(name, materialise(ref, bytes, `${what}: tensor '${name}'`));
  }
  return out;
}

function parseLegacyPth(buf: Uint8Array, what: string): Map<string, RawTensor> {
  // Legacy torch.save: pickles of magic number, protocol, sys info, the object, the storage keys,
  // then for each key an int64 element count followed by the raw elements.
  const source = `${what} (legacy torch.save format)`;
  let pos = 0;
  let magic: PickleValue;
  try {
    ({ value: magic, end: pos } = unpickle(buf, 0, { source }));
  } catch (err) {
    throw new Error(`${what}: neither a zip-format PyTorch file nor a legacy one (${(err as Error).message})`);
  }
  if (magic !== 0x1950a86a20f9469cfc6cn && String(magic) !== '119547037146038801333356') {
    throw new Error(`${what}: not a PyTorch file (no zip header, legacy magic number is ${String(magic)})`);
  }
  ({ end: pos } = unpickle(buf, pos, { source }));
  ({ end: pos } = unpickle(buf, pos, { source }));
  const storagesByKey = new Map<string, StorageRef>();
  const views: { ref: TensorRef; base: string; viewOffset: number }[] = [];
  const parsed = unpickle(buf, pos, {
    source,
    persistentLoad: (pid) => {
      const t = pid as PickleValue[];
      const ref = storageFromPid(t, what);
      if (!storagesByKey.has(ref.key)) storagesByKey.set(ref.key, ref);
      // A view_metadata (view key, offset, size) names a slice of the root storage.
      const vm = t[5] as PickleValue[] | null | undefined;
      if (vm) {
        const viewRef: StorageRef = { ...ref, key: String(vm[0]) };
        views.push({ ref: { kind: 'tensor', storage: viewRef, offset: 0, shape: [], stride: [] }, base: ref.key, viewOffset: Number(vm[1]) });
        return viewRef;
      }
      return ref;
    },
  });
  pos = parsed.end;
  const keysParsed = unpickle(buf, pos, { source });
  pos = keysParsed.end;
  const keys = (keysParsed.value as PickleValue[]).map(String);
  const data = new Map<string, Uint8Array>();
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  for (const key of keys) {
    const ref = storagesByKey.get(key);
    if (!ref) throw new Error(`${what}: storage key ${key} listed but never referenced`);
    if (pos + 8 > buf.byteLength) throw new Error(`${what}: file ends before storage ${key}`);
    const numel = Number(view.getBigInt64(pos, true));
    const len = numel * DTYPE_BYTES[ref.dtype];
    if (!(numel >= 0 && pos + 8 + len <= buf.byteLength)) {
      throw new Error(`${what}: storage ${key} declares ${numel} elements, more than the ${buf.byteLength - pos - 8} bytes left in the file hold`);
    }
    data.set(key, buf.subarray(pos + 8, pos + 8 + len));
    pos += 8 + len;
  }
  for (const v of views) {
    const base = data.get(v.base);
    if (!base) throw new Error(`${what}: view of missing storage ${v.base}`);
    data.set(v.ref.storage.key, base.subarray(v.viewOffset * DTYPE_BYTES[v.ref.storage.dtype]));
  }
  const refs = findStateDict(parsed.value, what);
  const out = new Map<string, RawTensor>();
  for (const [name, ref] of refs) {
    const bytes = data.get(ref.storage.key);
    if (!bytes) throw new Error(`${what}: tensor '${name}' refers to storage ${ref.storage.key}, which the file lacks`);
    out.set(name, materialise(ref, bytes, `${what}: tensor '${name}'`));
  }
  return out;
}
