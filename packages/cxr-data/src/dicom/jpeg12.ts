import { CxrDataError } from '../errors';
import type { CodecFrame } from './codecs';

/**
 * Sequential Huffman JPEG (processes 1, 2 and 4: SOF0 / SOF1) of one component at 8 or 12 bits, for the
 * 12-bit JPEG extended radiographs libjpeg-turbo's 8-bit build cannot read. The inverse DCT is IJG's
 * integer "islow" (jidctint.c), the one dcmtk, gdcm and pydicom's decoders use.
 */
export function decodeJpegSequential(data: Uint8Array, file: string): CodecFrame {
  const fail = (what: string): never => {
    throw new CxrDataError(`${file}: cannot decode the JPEG extended pixel data: ${what}`, file);
  };
  const u16 = (i: number) => (data[i] << 8) | data[i + 1];
  const qt: Int32Array[] = [];
  const dcTables: HuffTable[] = [];
  const acTables: HuffTable[] = [];
  let width = 0;
  let height = 0;
  let precision = 8;
  let quant = 0;
  let restartInterval = 0;
  let pos = 2;
  if (data[0] !== 0xff || data[1] !== 0xd8) fail('no SOI marker');
  for (;;) {
    if (pos + 4 > data.length) fail('the stream ends before its scan (truncated)');
    if (data[pos] !== 0xff) fail(`no marker at byte ${pos}`);
    const marker = data[pos + 1];
    if (marker === 0xff) {
      pos++;
      continue;
    }
    const len = u16(pos + 2);
    const seg = pos + 4;
    const end = pos + 2 + len;
    if (end > data.length) fail(`a marker segment runs past the end of the stream (truncated)`);
    if (marker === 0xdb) {
      for (let i = seg; i < end; ) {
        const pq = data[i] >> 4;
        const tq = data[i] & 15;
        const t = new Int32Array(64);
        for (let k = 0; k < 64; k++) t[ZIGZAG[k]] = pq ? u16(i + 1 + 2 * k) : data[i + 1 + k];
        qt[tq] = t;
        i += 1 + 64 * (pq ? 2 : 1);
      }
    } else if (marker === 0xc4) {
      for (let i = seg; i < end; ) {
        const tc = data[i] >> 4;
        const th = data[i] & 15;
        const counts = data.subarray(i + 1, i + 17);
        let total = 0;
        for (let k = 0; k < 16; k++) total += counts[k];
        if (i + 17 + total > end) fail('a Huffman table runs past its segment');
        (tc === 0 ? dcTables : acTables)[th] = buildHuffman(counts, data.subarray(i + 17, i + 17 + total));
        i += 17 + total;
      }
    } else if (marker === 0xc0 || marker === 0xc1) {
      precision = data[seg];
      height = u16(seg + 1);
      width = u16(seg + 3);
      const comps = data[seg + 5];
      if (comps !== 1) fail(`${comps} components; a greyscale radiograph has 1`);
      quant = data[seg + 8];
      if (precision !== 8 && precision !== 12) fail(`precision ${precision}`);
    } else if (marker >= 0xc2 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      fail(`frame type SOF${marker - 0xc0} (only sequential Huffman JPEG is read here)`);
    } else if (marker === 0xdd) {
      restartInterval = u16(seg);
    } else if (marker === 0xda) {
      pos = end;
      const td = data[seg + 2] >> 4;
      const ta = data[seg + 2] & 15;
      if (!width || !height) fail('a scan before the frame header');
      if (!qt[quant] || !dcTables[td] || !acTables[ta]) fail('a scan whose quantisation or Huffman table is missing');
      return decodeScan(data, pos, { width, height, precision, q: qt[quant], dc: dcTables[td], ac: acTables[ta], restartInterval }, fail);
    } else if (marker === 0xd9) fail('end of image before any scan');
    pos = end;
  }
}

interface HuffTable {
  /** Per code length 1-16: the largest code of that length (-1 when none), and the index of its first value. */
  maxCode: Int32Array;
  valPtr: Int32Array;
  minCode: Int32Array;
  values: Uint8Array;
}

function buildHuffman(counts: Uint8Array, values: Uint8Array): HuffTable {
  const maxCode = new Int32Array(18).fill(-1);
  const valPtr = new Int32Array(17);
  const minCode = new Int32Array(17);
  let code = 0;
  let k = 0;
  for (let l = 1; l <= 16; l++) {
    valPtr[l] = k;
    minCode[l] = code;
    code += counts[l - 1];
    k += counts[l - 1];
    maxCode[l] = counts[l - 1] ? code - 1 : -1;
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff;
  return { maxCode, valPtr, minCode, values: values.slice() };
}

const ZIGZAG = Int32Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30,
  37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

interface Scan {
  width: number;
  height: number;
  precision: number;
  q: Int32Array;
  dc: HuffTable;
  ac: HuffTable;
  restartInterval: number;
}

function decodeScan(data: Uint8Array, start: number, s: Scan, fail: (what: string) => never): CodecFrame {
  let pos = start;
  let bitBuf = 0;
  let bitCount = 0;
  // After a marker inside the entropy data, zeros are fed (as libjpeg does) and the decode fails if it needs many.
  let padded = 0;
  const bit = (): number => {
    if (bitCount === 0) {
      let b = 0;
      if (pos < data.length && !(data[pos] === 0xff && data[pos + 1] !== 0x00)) {
        b = data[pos++];
        if (b === 0xff) pos++;
      } else if (++padded > 64) fail('the entropy-coded data ends early (truncated or corrupt)');
      bitBuf = b;
      bitCount = 8;
    }
    bitCount--;
    return (bitBuf >> bitCount) & 1;
  };
  const receive = (n: number): number => {
    let v = 0;
    for (let i = 0; i < n; i++) v = (v << 1) | bit();
    return v;
  };
  const extend = (v: number, n: number) => (n === 0 ? 0 : v < 1 << (n - 1) ? v - (1 << n) + 1 : v);
  const decodeHuff = (t: HuffTable): number => {
    let code = bit();
    let l = 1;
    while (code > t.maxCode[l]) {
      code = (code << 1) | bit();
      if (++l > 16) fail('a Huffman code that is in no table (corrupt data)');
    }
    return t.values[t.valPtr[l] + code - t.minCode[l]];
  };
  const { width, height, q } = s;
  const bw = Math.ceil(width / 8);
  const bh = Math.ceil(height / 8);
  const out = new Int32Array(width * height);
  const block = new Float64Array(64);
  const pixels = new Int32Array(64);
  const maxSample = (1 << s.precision) - 1;
  const center = 1 << (s.precision - 1);
  let pred = 0;
  let mcu = 0;
  for (let by = 0; by < bh; by++) {
    for (let bx = 0; bx < bw; bx++) {
      if (s.restartInterval && mcu > 0 && mcu % s.restartInterval === 0) {
        // Byte-align, then step over the RSTn marker.
        bitCount = 0;
        padded = 0;
        while (pos + 1 < data.length && !(data[pos] === 0xff && data[pos + 1] >= 0xd0 && data[pos + 1] <= 0xd7)) pos++;
        if (pos + 1 >= data.length) fail('a restart marker is missing (truncated)');
        pos += 2;
        pred = 0;
      }
      block.fill(0);
      const t = decodeHuff(s.dc);
      pred += extend(receive(t), t);
      block[0] = pred * q[0];
      for (let k = 1; k < 64; ) {
        const rs = decodeHuff(s.ac);
        const r = rs >> 4;
        const sz = rs & 15;
        if (sz === 0) {
          if (r !== 15) break;
          k += 16;
          continue;
        }
        k += r;
        if (k > 63) fail('an AC coefficient past the end of a block (corrupt data)');
        block[ZIGZAG[k]] = extend(receive(sz), sz) * q[ZIGZAG[k]];
        k++;
      }
      idctIslow(block, pixels, s.precision === 8 ? 2 : 1, center, maxSample);
      for (let y = 0; y < 8; y++) {
        const oy = by * 8 + y;
        if (oy >= height) break;
        for (let x = 0; x < 8; x++) {
          const ox = bx * 8 + x;
          if (ox < width) out[oy * width + ox] = pixels[y * 8 + x];
        }
      }
      mcu++;
    }
  }
  return { width, height, values: out, bitsPerSample: s.precision };
}

// jidctint.c's constants: FIX(x) = round(x * 2^13).
const CONST_BITS = 13;
const F0_298 = 2446;
const F0_390 = 3196;
const F0_541 = 4433;
const F0_765 = 6270;
const F0_899 = 7373;
const F1_175 = 9633;
const F1_501 = 12299;
const F1_847 = 15137;
const F1_961 = 16069;
const F2_053 = 16819;
const F2_562 = 20995;
const F3_072 = 25172;

/** Rounding right shift on exact integers (float64 holds them without the overflow 12-bit data risks in 32 bits). */
const descale = (x: number, n: number) => Math.floor((x + 2 ** (n - 1)) / 2 ** n);

/** IJG's slow-but-accurate integer inverse DCT on dequantised coefficients; PASS1_BITS is 2 at 8 bits, 1 at 12. */
function idctIslow(inp: Float64Array, out: Int32Array, pass1: number, center: number, maxSample: number): void {
  const ws = new Float64Array(64);
  for (let c = 0; c < 8; c++) {
    if (inp[8 + c] === 0 && inp[16 + c] === 0 && inp[24 + c] === 0 && inp[32 + c] === 0 && inp[40 + c] === 0 && inp[48 + c] === 0 && inp[56 + c] === 0) {
      const dc = inp[c] * 2 ** pass1;
      for (let r = 0; r < 8; r++) ws[r * 8 + c] = dc;
      continue;
    }
    let z2 = inp[16 + c];
    let z3 = inp[48 + c];
    let z1 = (z2 + z3) * F0_541;
    let tmp2 = z1 + z3 * -F1_847;
    let tmp3 = z1 + z2 * F0_765;
    z2 = inp[c];
    z3 = inp[32 + c];
    let tmp0 = (z2 + z3) * 2 ** CONST_BITS;
    let tmp1 = (z2 - z3) * 2 ** CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    tmp0 = inp[56 + c];
    tmp1 = inp[40 + c];
    tmp2 = inp[24 + c];
    tmp3 = inp[8 + c];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F1_175;
    tmp0 *= F0_298;
    tmp1 *= F2_053;
    tmp2 *= F3_072;
    tmp3 *= F1_501;
    z1 *= -F0_899;
    z2 *= -F2_562;
    z3 = z3 * -F1_961 + z5;
    z4 = z4 * -F0_390 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    const n = CONST_BITS - pass1;
    ws[c] = descale(tmp10 + tmp3, n);
    ws[56 + c] = descale(tmp10 - tmp3, n);
    ws[8 + c] = descale(tmp11 + tmp2, n);
    ws[48 + c] = descale(tmp11 - tmp2, n);
    ws[16 + c] = descale(tmp12 + tmp1, n);
    ws[40 + c] = descale(tmp12 - tmp1, n);
    ws[24 + c] = descale(tmp13 + tmp0, n);
    ws[32 + c] = descale(tmp13 - tmp0, n);
  }
  const clamp = (v: number) => {
    const x = v + center;
    return x < 0 ? 0 : x > maxSample ? maxSample : x;
  };
  for (let r = 0; r < 8; r++) {
    const w = r * 8;
    const n = CONST_BITS + pass1 + 3;
    if (ws[w + 1] === 0 && ws[w + 2] === 0 && ws[w + 3] === 0 && ws[w + 4] === 0 && ws[w + 5] === 0 && ws[w + 6] === 0 && ws[w + 7] === 0) {
      const v = clamp(descale(ws[w], pass1 + 3));
      for (let c = 0; c < 8; c++) out[w + c] = v;
      continue;
    }
    let z2 = ws[w + 2];
    let z3 = ws[w + 6];
    let z1 = (z2 + z3) * F0_541;
    let tmp2 = z1 + z3 * -F1_847;
    let tmp3 = z1 + z2 * F0_765;
    let tmp0 = (ws[w] + ws[w + 4]) * 2 ** CONST_BITS;
    let tmp1 = (ws[w] - ws[w + 4]) * 2 ** CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    tmp0 = ws[w + 7];
    tmp1 = ws[w + 5];
    tmp2 = ws[w + 3];
    tmp3 = ws[w + 1];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = (z3 + z4) * F1_175;
    tmp0 *= F0_298;
    tmp1 *= F2_053;
    tmp2 *= F3_072;
    tmp3 *= F1_501;
    z1 *= -F0_899;
    z2 *= -F2_562;
    z3 = z3 * -F1_961 + z5;
    z4 = z4 * -F0_390 + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    out[w] = clamp(descale(tmp10 + tmp3, n));
    out[w + 7] = clamp(descale(tmp10 - tmp3, n));
    out[w + 1] = clamp(descale(tmp11 + tmp2, n));
    out[w + 6] = clamp(descale(tmp11 - tmp2, n));
    out[w + 2] = clamp(descale(tmp12 + tmp1, n));
    out[w + 5] = clamp(descale(tmp12 - tmp1, n));
    out[w + 3] = clamp(descale(tmp13 + tmp0, n));
    out[w + 4] = clamp(descale(tmp13 - tmp0, n));
  }
}
