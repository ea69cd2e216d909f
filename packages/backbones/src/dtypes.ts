import type * as tf from '@tensorflow/tfjs-core';

/** Element types found in torch storages and safetensors files, by safetensors' names. */
export type FileDType = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

export const DTYPE_BYTES: Record<FileDType, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

export function isFileDType(s: string): s is FileDType {
  return Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

/**
 * Decodes `count` little-endian elements starting at byte `offset` into a tfjs-typed array:
 * floats become float32, integers int32 (int64 values must fit), BOOL stays bool.
 * `what` names the tensor in errors.
 */
export function decodeElements(
  bytes: Uint8Array,
  offset: number,
  dtype: FileDType,
  count: number,
  what: string,
  elementIndex?: (i: number) => number,
): { values: Float32Array | Int32Array | Uint8Array; dtype: 'float32' | 'int32' | 'bool' } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const size = DTYPE_BYTES[dtype];
  const at = (i: number) => offset + (elementIndex ? elementIndex(i) : i) * size;
  const needed = at(count - 1) + size;
  if (count > 0 && needed > bytes.byteLength) {
    throw new Error(`${what}: needs ${needed} bytes of ${dtype} data, the buffer has ${bytes.byteLength}`);
  }
  switch (dtype) {
    case 'F32': {
      if (!elementIndex && (bytes.byteOffset + offset) % 4 === 0) {
        return { values: new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + count * 4)), dtype: 'float32' };
      }
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getFloat32(at(i), true);
      return { values: out, dtype: 'float32' };
    }
    case 'F64':
    case 'F16':
    case 'BF16': {
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) {
        const p = at(i);
        out[i] =
          dtype === 'F64'
            ? view.getFloat64(p, true)
            : dtype === 'F16'
              ? halfToFloat(view.getUint16(p, true))
              : new Float32Array(new Uint32Array([view.getUint16(p, true) << 16]).buffer)[0];
      }
      return { values: out, dtype: 'float32' };
    }
    case 'I64': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = view.getBigInt64(at(i), true);
        if (v > 2147483647n || v < -2147483648n) throw new Error(`${what}: int64 value ${v} at element ${i} does not fit int32`);
        out[i] = Number(v);
      }
      return { values: out, dtype: 'int32' };
    }
    case 'I32':
    case 'I16':
    case 'I8':
    case 'U8': {
      const out = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const p = at(i);
        out[i] =
          dtype === 'I32' ? view.getInt32(p, true) : dtype === 'I16' ? view.getInt16(p, true) : dtype === 'I8' ? view.getInt8(p) : view.getUint8(p);
      }
      return { values: out, dtype: 'int32' };
    }
    case 'BOOL': {
      const out = new Uint8Array(count);
      for (let i = 0; i < count; i++) out[i] = view.getUint8(at(i)) ? 1 : 0;
      return { values: out, dtype: 'bool' };
    }
  }
}

export function tfDTypeToFile(dtype: tf.DataType): FileDType {
  if (dtype === 'float32') return 'F32';
  if (dtype === 'int32') return 'I32';
  if (dtype === 'bool') return 'BOOL';
  throw new Error(`cannot store a tensor of dtype ${dtype}; expected float32, int32 or bool`);
}
