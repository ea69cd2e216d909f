import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { writeFileAtomic } from '@moco-cxr/atomic-write';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Worker as NodeWorker } from 'node:worker_threads';

/** Where this module sits, in both the ESM and the CJS build (and under vitest). */
function moduleBase(): string {
  // CJS defines __filename; ESM has import.meta.url (esbuild empties import.meta in the CJS build).
  if (typeof __filename === 'string' && __filename.length > 0) return __filename;
  return import.meta.url;
}

const localRequire = createRequire(moduleBase());

/** Absolute path of the tfjs-backend-wasm Node bundle (its package.json "main"). */
export function wasmBundlePath(): string {
  return localRequire.resolve('@tensorflow/tfjs-backend-wasm');
}

/** Directory holding tfjs-backend-wasm*.wasm, with a trailing separator, for setWasmPaths. */
export function wasmBinaryDir(): string {
  const dir = path.dirname(wasmBundlePath());
  for (const f of ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm']) {
    if (!existsSync(path.join(dir, f))) {
      throw new Error(`@moco-cxr/compute: ${path.join(dir, f)} is missing; expected the .wasm binaries beside ${wasmBundlePath()}`);
    }
  }
  return dir + path.sep;
}

/**
 * The pthread worker script. tfjs ships it as a Blob URL, which Node's Worker refuses; this is the
 * same protocol (emscripten's worker.js) as a file, evaluating the main script the page posts
 * (a Blob) inside a scope that defines the module-level names the rollup bundle refers to.
 */
function workerSource(bundleFile: string, requires: Record<string, string>): string {
  return `'use strict';
// pthread worker for tfjs-backend-wasm-threaded-simd in Node, written by @moco-cxr/compute.
const nodeWorkerThreads = require('node:worker_threads');
const parentPort = nodeWorkerThreads.parentPort;
const fs = require('node:fs');
const vm = require('node:vm');
const BUNDLE_FILE = ${JSON.stringify(bundleFile)};
const REQUIRES = ${JSON.stringify(requires)};
let Module = {};
Object.assign(globalThis, {
  self: globalThis,
  require,
  Module,
  location: { href: __filename },
  Worker: nodeWorkerThreads.Worker,
  importScripts(f) { vm.runInThisContext(fs.readFileSync(f, 'utf8'), { filename: f }); },
  postMessage(msg, transfer) { parentPort.postMessage(msg, transfer); },
  performance: globalThis.performance,
});
function __values(o) {
  const s = typeof Symbol === 'function' && Symbol.iterator, m = s && o[s];
  if (m) return m.call(o);
  let i = 0;
  return { next() { if (o && i >= o.length) o = void 0; return { value: o && o[i++], done: !o }; } };
}
function __read(o, n) {
  const m = typeof Symbol === 'function' && o[Symbol.iterator];
  if (!m) return o;
  const it = m.call(o), out = [];
  let r;
  while ((n === void 0 || n-- > 0) && !(r = it.next()).done) out.push(r.value);
  return out;
}
function __spreadArray(to, from, pack) { return to.concat(Array.prototype.slice.call(from)); }
function __assign() { return Object.assign.apply(Object, [{}].concat(Array.prototype.slice.call(arguments))); }
function evaluateMain(src, filename) {
  const names = Object.keys(REQUIRES);
  const values = names.map((n) => require(REQUIRES[n]));
  const scopeNames = names.concat(['commonjsGlobal', '_scriptDir', '__dirname', '__filename', '__values', '__read', '__spreadArray', '__assign']);
  const scopeValues = values.concat([globalThis, BUNDLE_FILE, require('node:path').dirname(BUNDLE_FILE), BUNDLE_FILE, __values, __read, __spreadArray, __assign]);
  const fn = vm.runInThisContext('(function (' + scopeNames.join(',') + ') {\\n' + src + '\\nreturn WasmBackendModuleThreadedSimd;\\n})', { filename });
  return fn.apply(globalThis, scopeValues);
}
let initializedJS = false;
let pendingNotifiedProxyingQueues = [];
let loading = false;
const queued = [];
function err() { fs.writeSync(2, Array.prototype.slice.call(arguments).join(' ') + '\\n'); }
Module.instantiateWasm = (info, receiveInstance) => {
  const instance = new WebAssembly.Instance(Module.wasmModule, info);
  receiveInstance(instance);
  Module.wasmModule = null;
  return instance.exports;
};
self.startWorker = (instance) => { Module = instance; postMessage({ cmd: 'loaded' }); };
function failLoad(e) {
  // No 'cmd' field: emscripten's main thread ignores it; @moco-cxr/compute listens for it and falls back.
  parentPort.postMessage({ mocoCxrWorkerLoadError: String(e && e.stack ? e.stack : e) });
}
function handle(data) {
  if (loading) { queued.push(data); return; }
  if (data.cmd === 'load') {
    Module.wasmModule = data.wasmModule;
    for (const handler of data.handlers) {
      Module[handler] = function () { postMessage({ cmd: 'callHandler', handler, args: Array.prototype.slice.call(arguments) }); };
    }
    Module.wasmMemory = data.wasmMemory;
    Module.buffer = Module.wasmMemory.buffer;
    Module.ENVIRONMENT_IS_PTHREAD = true;
    const u = data.urlOrBlob;
    loading = true;
    const text = typeof u === 'string' ? Promise.resolve(fs.readFileSync(u, 'utf8')) : u.text();
    text.then((src) => {
      const factory = evaluateMain(src, typeof u === 'string' ? u : BUNDLE_FILE + '#threaded-simd');
      factory(Module);
      loading = false;
      while (queued.length > 0 && !loading) handle(queued.shift());
    }).catch(failLoad);
  } else if (data.cmd === 'run') {
    Module.__emscripten_thread_init(data.pthread_ptr, 0, 0, 1);
    Module.establishStackSpace();
    Module.PThread.receiveObjectTransfer(data);
    Module.PThread.threadInitTLS();
    if (!initializedJS) {
      pendingNotifiedProxyingQueues.forEach((q) => Module.executeNotifiedProxyingQueue(q));
      pendingNotifiedProxyingQueues = [];
      initializedJS = true;
    }
    try {
      Module.invokeEntryPoint(data.start_routine, data.arg);
    } catch (ex) {
      if (ex != 'unwind') {
        if (ex instanceof Module.ExitStatus) {
          if (!Module.keepRuntimeAlive()) Module.__emscripten_thread_exit(ex.status);
        } else {
          throw ex;
        }
      }
    }
  } else if (data.cmd === 'cancel') {
    if (Module._pthread_self()) Module.__emscripten_thread_exit(-1);
  } else if (data.target === 'setimmediate') {
    // Nothing: Node has a real setImmediate.
  } else if (data.cmd === 'processProxyingQueue') {
    if (initializedJS) Module.executeNotifiedProxyingQueue(data.queue);
    else pendingNotifiedProxyingQueues.push(data.queue);
  } else if (data.cmd) {
    err('worker.js received unknown command ' + data.cmd);
  }
}
self.onmessage = (e) => handle(e.data);
parentPort.on('message', (data) => {
  try {
    handle(data);
  } catch (ex) {
    if (Module.__emscripten_thread_crashed) Module.__emscripten_thread_crashed();
    throw ex;
  }
});
`;
}

/** The `var require$$N = require('x')` lines of the rollup bundle: the names its factory closes over. */
export function bundleRequires(bundleText: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of bundleText.matchAll(/^var (require\$\$\d+) = require\('([\w:/-]+)'\);$/gm)) out[m[1]] = m[2];
  return out;
}

/** Writes the worker script (content-addressed, atomically) and returns its path. */
export function writeWorkerScript(cacheDir?: string): string {
  const bundle = wasmBundlePath();
  const requires = bundleRequires(readFileSync(bundle, 'utf8'));
  if (Object.keys(requires).length === 0) {
    throw new Error(`@moco-cxr/compute: found no "var require$$N = require(...)" lines in ${bundle}; this tfjs-backend-wasm build is not supported for threads`);
  }
  const src = workerSource(bundle, requires);
  const hash = createHash('sha256').update(src).digest('hex').slice(0, 16);
  const dir = cacheDir ?? path.join(os.tmpdir(), `moco-cxr-compute-${typeof process.getuid === 'function' ? process.getuid() : 'u'}`);
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `tfjs-wasm-pthread-${hash}.cjs`);
  if (!existsSync(file) || readFileSync(file, 'utf8') !== src) {
    // Concurrent processes (vitest forks) never see a half-written script, nor a crash a torn one.
    writeFileAtomic(file, src);
  }
  return file;
}

/** Workers started while the threaded module loads, so they can be unref'd or terminated. */
export interface ThreadPatch {
  workers: NodeWorker[];
  /** Rejects when a worker reports that it could not evaluate the main script. */
  failure: Promise<never>;
  restore(): void;
}

/**
 * For the duration of the threaded wasm init: make `new Worker('blob:...')` start our worker file,
 * and report 2 * threads logical cores, because the backend sizes its pool as min(requested, cores / 2).
 */
export function patchForThreads(workerFile: string, threads: number): ThreadPatch {
  const workers: NodeWorker[] = [];
  let fail: (e: Error) => void = () => undefined;
  const failure = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failure.catch(() => undefined);
  class PthreadWorker extends NodeWorker {
    constructor(file: string | URL, options?: ConstructorParameters<typeof NodeWorker>[1]) {
      const target = typeof file === 'string' && file.startsWith('blob:') ? workerFile : file;
      super(target, options);
      workers.push(this);
      this.on('message', (m: unknown) => {
        if (m !== null && typeof m === 'object' && 'mocoCxrWorkerLoadError' in m) {
          fail(new Error(`pthread worker ${workerFile} failed to load the threaded wasm module: ${String((m as { mocoCxrWorkerLoadError: unknown }).mocoCxrWorkerLoadError)}`));
        }
      });
    }
  }
  const g = globalThis as Record<string, unknown>;
  const workerDesc = Object.getOwnPropertyDescriptor(g, 'Worker');
  // The emscripten factory assigns global.Worker = worker_threads.Worker; keep ours in place meanwhile.
  Object.defineProperty(g, 'Worker', { configurable: true, enumerable: false, get: () => PthreadWorker, set: () => undefined });
  const cpus = os.cpus;
  const fakeCount = Math.max(2 * threads, cpus.call(os).length);
  os.cpus = () => {
    const real = cpus.call(os);
    return Array.from({ length: fakeCount }, (_, i) => real[i % Math.max(1, real.length)]);
  };
  let restored = false;
  return {
    workers,
    failure,
    restore() {
      if (restored) return;
      restored = true;
      os.cpus = cpus;
      if (workerDesc) Object.defineProperty(g, 'Worker', workerDesc);
      else delete g.Worker;
    },
  };
}
