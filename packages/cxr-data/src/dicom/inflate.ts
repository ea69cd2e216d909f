// Raw DEFLATE (RFC 1951) in plain TypeScript, for the deflated DICOM transfer syntax in Node and in
// the browser alike (no node:zlib). Canonical Huffman decoding as in zlib's puff.c: short, and fast
// enough for the rare deflated radiograph.

/** Thrown when the output would pass `maxOutputLength`: the caller refuses a possible deflate bomb. */
export class InflateLimitError extends Error {
  readonly code = 'ERR_BUFFER_TOO_LARGE';
}

class EndOfInput extends Error {}

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CODE_LENGTH_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

interface Huffman {
  counts: Uint16Array;
  symbols: Uint16Array;
}

function huffman(lengths: ArrayLike<number>, n: number): Huffman {
  const counts = new Uint16Array(16);
  for (let i = 0; i < n; i++) counts[lengths[i]]++;
  counts[0] = 0;
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = left * 2 - counts[len];
    if (left < 0) throw new Error('invalid Huffman code lengths (over-subscribed)');
  }
  const offsets = new Uint16Array(16);
  for (let len = 1; len < 15; len++) offsets[len + 1] = offsets[len] + counts[len];
  const symbols = new Uint16Array(n);
  for (let i = 0; i < n; i++) if (lengths[i] !== 0) symbols[offsets[lengths[i]]++] = i;
  return { counts, symbols };
}

const FIXED = (() => {
  const lit = new Uint8Array(288);
  lit.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
  return { lit: huffman(lit, 288), dist: huffman(new Uint8Array(30).fill(5), 30) };
})();

/**
 * Inflates a raw DEFLATE stream. Input that ends before the final block gives what was decoded so
 * far (as zlib with Z_SYNC_FLUSH); output past `maxOutputLength` bytes throws InflateLimitError.
 */
export function inflateRaw(input: Uint8Array, maxOutputLength: number): Uint8Array {
  let pos = 0;
  let bitBuf = 0;
  let bitCount = 0;
  let out = new Uint8Array(Math.min(maxOutputLength, Math.max(1024, input.length * 4)));
  let n = 0;

  const bits = (need: number): number => {
    while (bitCount < need) {
      if (pos >= input.length) throw new EndOfInput();
      bitBuf |= input[pos++] << bitCount;
      bitCount += 8;
    }
    const v = bitBuf & ((1 << need) - 1);
    bitBuf >>>= need;
    bitCount -= need;
    return v;
  };
  const room = (extra: number) => {
    if (n + extra <= out.length) return;
    if (n + extra > maxOutputLength) throw new InflateLimitError(`the inflated data is larger than ${maxOutputLength} bytes`);
    const grown = new Uint8Array(Math.min(maxOutputLength, Math.max(n + extra, out.length * 2)));
    grown.set(out.subarray(0, n));
    out = grown;
  };
  const decode = (h: Huffman): number => {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len < 16; len++) {
      code |= bits(1);
      const count = h.counts[len];
      if (code - count < first) return h.symbols[index + (code - first)];
      index += count;
      first += count;
      first <<= 1;
      code <<= 1;
    }
    throw new Error('invalid Huffman code');
  };

  try {
    let last = 0;
    while (!last) {
      last = bits(1);
      const type = bits(2);
      if (type === 0) {
        bitBuf = 0;
        bitCount = 0;
        if (pos + 4 > input.length) throw new EndOfInput();
        const len = input[pos] | (input[pos + 1] << 8);
        const nlen = input[pos + 2] | (input[pos + 3] << 8);
        if (len !== (~nlen & 0xffff)) throw new Error('invalid stored block length');
        pos += 4;
        const take = Math.min(len, input.length - pos);
        room(take);
        out.set(input.subarray(pos, pos + take), n);
        n += take;
        pos += take;
        if (take < len) throw new EndOfInput();
        continue;
      }
      let lit = FIXED.lit;
      let dist = FIXED.dist;
      if (type === 2) {
        const nlen = bits(5) + 257;
        const ndist = bits(5) + 1;
        const ncode = bits(4) + 4;
        if (nlen > 286 || ndist > 30) throw new Error('invalid dynamic block header');
        const lengths = new Uint8Array(320);
        for (let i = 0; i < ncode; i++) lengths[CODE_LENGTH_ORDER[i]] = bits(3);
        const lencode = huffman(lengths, 19);
        lengths.fill(0);
        for (let i = 0; i < nlen + ndist; ) {
          const sym = decode(lencode);
          if (sym < 16) {
            lengths[i++] = sym;
            continue;
          }
          let value = 0;
          let repeat: number;
          if (sym === 16) {
            if (i === 0) throw new Error('invalid repeat of no previous code length');
            value = lengths[i - 1];
            repeat = 3 + bits(2);
          } else repeat = sym === 17 ? 3 + bits(3) : 11 + bits(7);
          if (i + repeat > nlen + ndist) throw new Error('invalid code lengths (too many)');
          while (repeat--) lengths[i++] = value;
        }
        if (lengths[256] === 0) throw new Error('invalid dynamic block: no end-of-block code');
        lit = huffman(lengths.subarray(0, nlen), nlen);
        dist = huffman(lengths.subarray(nlen, nlen + ndist), ndist);
      } else if (type !== 1) throw new Error('invalid block type 3');
      for (;;) {
        let sym = decode(lit);
        if (sym < 256) {
          room(1);
          out[n++] = sym;
        } else if (sym === 256) break;
        else {
          sym -= 257;
          if (sym >= 29) throw new Error('invalid length code');
          const len = LENGTH_BASE[sym] + bits(LENGTH_EXTRA[sym]);
          const dsym = decode(dist);
          if (dsym >= 30) throw new Error('invalid distance code');
          const d = DIST_BASE[dsym] + bits(DIST_EXTRA[dsym]);
          if (d > n) throw new Error('invalid distance: before the start of the output');
          room(len);
          // Byte by byte: a match may overlap the bytes it is copying.
          for (let k = 0; k < len; k++, n++) out[n] = out[n - d];
        }
      }
    }
  } catch (e) {
    if (!(e instanceof EndOfInput)) throw e;
  }
  return out.slice(0, n);
}
