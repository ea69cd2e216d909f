/**
 * A minimal, SAFE reader for the pickles `torch.save` writes for state dicts and checkpoints.
 * It understands data opcodes only (dicts, lists, tuples, numbers, strings, bytes) and a short
 * allow-list of globals, which it never imports or calls: each becomes a plain JS value
 * (an OrderedDict becomes a Map, `_rebuild_tensor_v2` a TensorRef). Any other global throws.
 */
import type { FileDType } from './dtypes';

/** Where a tensor's elements live: a storage of the archive plus view geometry, not yet read. */
export interface StorageRef {
  readonly kind: 'storage';
  readonly dtype: FileDType;
  readonly key: string;
  readonly location: string;
  readonly numel?: number;
}

export interface TensorRef {
  readonly kind: 'tensor';
  readonly storage: StorageRef;
  readonly offset: number;
  readonly shape: number[];
  readonly stride: number[];
}

export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
  ) {}
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | PickleTuple
  | Map<PickleValue, PickleValue>
  | PickleGlobal
  | StorageRef
  | TensorRef;

/** Tuples are frozen arrays tagged so they can be told from lists. */
export interface PickleTuple extends ReadonlyArray<PickleValue> {
  readonly __tuple: true;
}

function tuple(items: PickleValue[]): PickleTuple {
  return Object.freeze(Object.assign(items, { __tuple: true as const })) as unknown as PickleTuple;
}

const STORAGE_DTYPES: Record<string, FileDType> = {
  FloatStorage: 'F32',
  DoubleStorage: 'F64',
  HalfStorage: 'F16',
  BFloat16Storage: 'BF16',
  LongStorage: 'I64',
  IntStorage: 'I32',
  ShortStorage: 'I16',
  CharStorage: 'I8',
  ByteStorage: 'U8',
  BoolStorage: 'BOOL',
};

const ALLOWED_GLOBALS = new Set([
  'collections.OrderedDict',
  'torch._utils._rebuild_tensor_v2',
  'torch._utils._rebuild_tensor',
  'torch._utils._rebuild_parameter',
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);

const MARK = Symbol('mark');
type StackItem = PickleValue | typeof MARK;

export interface UnpickleOptions {
  /** Resolves a persistent id (torch's storage tuples); required when the pickle has any. */
  persistentLoad?: (pid: PickleValue) => PickleValue;
  /** Name of the source, for error messages. */
  source?: string;
}

function asTensorRef(args: PickleValue, where: string): TensorRef {
  const a = args as PickleValue[];
  const storage = a[0] as StorageRef;
  if (!storage || storage.kind !== 'storage') throw new Error(`${where}: _rebuild_tensor_v2 expects a storage as first argument`);
  const toNums = (v: PickleValue) => (v as PickleValue[]).map((x) => Number(x));
  return { kind: 'tensor', storage, offset: Number(a[1]), shape: toNums(a[2]), stride: toNums(a[3]) };
}

/**
 * Unpickles `bytes` starting at `start`; returns the value and the offset after STOP
 * (legacy torch files hold several pickles back to back).
 */
export function unpickle(bytes: Uint8Array, start = 0, options: UnpickleOptions = {}): { value: PickleValue; end: number } {
  const src = options.source ?? 'pickle';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  const stack: StackItem[] = [];
  const marks: number[] = [];
  const memo = new Map<number, PickleValue>();
  let pos = start;

  const fail = (msg: string): never => {
    throw new Error(`${src}: ${msg} (byte ${pos})`);
  };
  const need = (n: number) => {
    if (pos + n > bytes.byteLength) fail(`truncated pickle: needs ${n} more bytes`);
  };
  const u8 = () => (need(1), bytes[pos++]);
  const u16 = () => (need(2), (pos += 2), view.getUint16(pos - 2, true));
  const u32 = () => (need(4), (pos += 4), view.getUint32(pos - 4, true));
  const i32 = () => (need(4), (pos += 4), view.getInt32(pos - 4, true));
  const take = (n: number) => (need(n), (pos += n), bytes.subarray(pos - n, pos));
  const line = () => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail('unterminated text line');
    const s = decoder.decode(bytes.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): PickleValue => {
    if (stack.length === 0) fail('stack underflow');
    const v = stack.pop()!;
    if (v === MARK) fail('unexpected MARK on the stack');
    return v as PickleValue;
  };
  const top = (): PickleValue => {
    const v = stack[stack.length - 1];
    if (v === undefined || v === MARK) fail('stack underflow');
    return v as PickleValue;
  };
  const popMark = (): PickleValue[] => {
    const m = marks.pop();
    if (m === undefined) fail('no MARK to pop to');
    const items = stack.splice(m!) as PickleValue[];
    return items;
  };
  const longFromBytes = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (target: PickleValue, items: PickleValue[]) => {
    if (!(target instanceof Map)) fail('SETITEM(S) on something that is not a dict');
    for (let i = 0; i + 1 < items.length; i += 2) (target as Map<PickleValue, PickleValue>).set(items[i], items[i + 1]);
  };
  const appendItems = (target: PickleValue, items: PickleValue[]) => {
    if (!Array.isArray(target) || Object.isFrozen(target)) fail('APPEND(S) on something that is not a list');
    (target as PickleValue[]).push(...items);
  };
  const global = (module: string, name: string) => {
    const full = `${module}.${name}`;
    if (!ALLOWED_GLOBALS.has(full)) {
      fail(`refusing global '${full}': only tensors, storages and OrderedDict are read, nothing is executed (allowed: ${[...ALLOWED_GLOBALS].join(', ')})`);
    }
    stack.push(new PickleGlobal(module, name));
  };
  const reduce = (fn: PickleValue, args: PickleValue) => {
    if (!(fn instanceof PickleGlobal)) fail('REDUCE on something that is not an allowed global');
    const g = (fn as PickleGlobal).toString();
    if (g === 'collections.OrderedDict') {
      const init = new Map<PickleValue, PickleValue>();
      // OrderedDict([(k, v), ...]) form.
      const first = (args as PickleValue[])[0];
      if (Array.isArray(first)) for (const kv of first as PickleValue[][]) init.set(kv[0], kv[1]);
      return init;
    }
    if (g === 'torch._utils._rebuild_tensor_v2' || g === 'torch._utils._rebuild_tensor') return asTensorRef(args, src);
    if (g === 'torch._utils._rebuild_parameter') return (args as PickleValue[])[0];
    return fail(`calling '${g}' is not supported`);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        take(8);
        break;
      case 0x2e: // STOP
        return { value: pop(), end: pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x74: // TUPLE
        stack.push(tuple(popMark()));
        break;
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(tuple([a, b, c]));
        break;
      }
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT
        const d = new Map<PickleValue, PickleValue>();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: {
        // APPEND
        const v = pop();
        appendItems(top(), [v]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x70: // PUT
        memo.set(Number(line()), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: // LONG_BINGET
      case 0x67: {
        // GET
        const idx = op === 0x68 ? u8() : op === 0x6a ? u32() : Number(line());
        if (!memo.has(idx)) fail(`memo key ${idx} not found`);
        stack.push(memo.get(idx)!);
        break;
      }
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(longFromBytes(take(u8())));
        break;
      case 0x8b: // LONG4
        stack.push(longFromBytes(take(u32())));
        break;
      case 0x49: {
        // INT (text); "01"/"00" are the protocol-0 booleans
        const s = line();
        stack.push(s === '01' ? true : s === '00' ? false : Number(s));
        break;
      }
      case 0x4c: // LONG (text)
        stack.push(Number(line().replace(/L$/, '')));
        break;
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x46: // FLOAT (text)
        stack.push(Number(line()));
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x58: // BINUNICODE
        stack.push(decoder.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(decoder.decode(take(u8())));
        break;
      case 0x8d: // BINUNICODE8
        need(8);
        pos += 8;
        stack.push(decoder.decode(take(Number(view.getBigUint64(pos - 8, true)))));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(decoder.decode(take(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(decoder.decode(take(u32())));
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x63: {
        // GLOBAL
        const module = line();
        global(module, line());
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        global(String(module), String(name));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, args));
        break;
      }
      case 0x62: {
        // BUILD: only OrderedDict's attribute state (torch's `_metadata`), which carries no tensors.
        pop();
        const target = top();
        if (!(target instanceof Map)) fail('BUILD on an object that is not an OrderedDict');
        break;
      }
      case 0x51: {
        // BINPERSID
        const pid = pop();
        if (!options.persistentLoad) fail('persistent id found but no storage resolver given');
        stack.push(options.persistentLoad!(pid));
        break;
      }
      case 0x30: // POP
        if (stack.length && stack[stack.length - 1] === MARK) stack.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      default:
        fail(`unsupported pickle opcode 0x${op.toString(16)} ('${String.fromCharCode(op)}'); only data opcodes of torch.save are read`);
    }
  }
}

/** Turns a persistent id tuple `('storage', torch.XStorage, key, location, numel[, view])` into a StorageRef. */
export function storageFromPid(pid: PickleValue, source: string): StorageRef {
  const t = pid as PickleValue[];
  if (!Array.isArray(t) || t[0] !== 'storage' || !(t[1] instanceof PickleGlobal)) {
    throw new Error(`${source}: unexpected persistent id ${JSON.stringify(pid, (_k, v) => (typeof v === 'bigint' ? String(v) : v))}`);
  }
  const dtype = STORAGE_DTYPES[(t[1] as PickleGlobal).name];
  if (!dtype) throw new Error(`${source}: unsupported storage type ${(t[1] as PickleGlobal).toString()}`);
  return { kind: 'storage', dtype, key: String(t[2]), location: String(t[3]), numel: t[4] == null ? undefined : Number(t[4]) };
}
