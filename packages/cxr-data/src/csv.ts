import { readFileSync } from 'node:fs';
import { CxrDataError } from './errors';

export interface CsvTable {
  file: string;
  header: string[];
  /** Data rows; `lines[i]` is the 1-based line number of rows[i] in the file (header = line 1). */
  rows: string[][];
  lines: number[];
}

/**
 * Bounds on one field and one line, in characters. CheXpert's and NIH's longest lines are a few hundred
 * characters; the bounds stop a damaged or hostile file (one 200 MB field) before it fills memory.
 */
export interface CsvLimits {
  /** Default 65536. */
  maxFieldChars?: number;
  /** Default 1048576 (1 Mi). */
  maxLineChars?: number;
}

export const CSV_LIMITS: Readonly<Required<CsvLimits>> = Object.freeze({ maxFieldChars: 65536, maxLineChars: 1 << 20 });

/** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF. Rows with a wrong field count are errors. */
export function readCsv(file: string, limits: CsvLimits = {}): CsvTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CxrDataError(`cannot read CSV ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file);
  }
  return parseCsv(text, file, limits);
}

const QUOTE = 34;
const COMMA = 44;
const CR = 13;
const LF = 10;

export function parseCsv(text: string, file = '<csv>', limits: CsvLimits = {}): CsvTable {
  const maxField = limits.maxFieldChars ?? CSV_LIMITS.maxFieldChars;
  const maxLine = limits.maxLineChars ?? CSV_LIMITS.maxLineChars;
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: string[][] = [];
  const lines: number[] = [];
  let record: string[] = [];
  let line = 1;
  let recordLine = 1;
  let recordStart = 0;
  const n = text.length;
  const columnName = (j: number) => (records.length > 0 && records[0][j] !== undefined ? `, column ${JSON.stringify(records[0][j].trim())}` : `, field ${j + 1}`);
  const tooLong = (fieldLine: number) =>
    new CxrDataError(`${file} line ${fieldLine}${columnName(record.length)}: a field of more than ${maxField} characters; this is not a dataset CSV (or raise maxFieldChars)`, file, fieldLine);
  // Fields are sliced out of the text, never grown a character at a time.
  const unquotedEnd = (from: number, fieldStart: number, fieldLine: number) => {
    let k = from;
    for (; k < n; k++) {
      const c = text.charCodeAt(k);
      if (c === COMMA || c === CR || c === LF) break;
      if (k - fieldStart >= maxField) throw tooLong(fieldLine);
    }
    return k;
  };
  let i = 0;
  for (;;) {
    const fieldStart = i;
    const fieldLine = line;
    let value: string;
    if (text.charCodeAt(i) === QUOTE) {
      let parts = '';
      let from = i + 1;
      for (;;) {
        const q = text.indexOf('"', from);
        if (q < 0) throw new CxrDataError(`${file}: unterminated quoted field starting on line ${recordLine}`, file, recordLine);
        if (q - fieldStart > maxField) throw tooLong(fieldLine);
        const piece = text.slice(from, q);
        for (let k = piece.indexOf('\n'); k >= 0; k = piece.indexOf('\n', k + 1)) line++;
        parts += piece;
        if (text.charCodeAt(q + 1) === QUOTE) {
          parts += '"';
          from = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      // Text after the closing quote belongs to the field, as before.
      const end = unquotedEnd(i, fieldStart, fieldLine);
      value = parts + text.slice(i, end);
      i = end;
    } else {
      const end = unquotedEnd(i, fieldStart, fieldLine);
      value = text.slice(i, end);
      i = end;
    }
    record.push(value);
    if (i - recordStart > maxLine) throw new CxrDataError(`${file} line ${recordLine}: a line of more than ${maxLine} characters; this is not a dataset CSV (or raise maxLineChars)`, file, recordLine);
    if (i < n && text.charCodeAt(i) === COMMA) {
      i++;
      continue;
    }
    // End of a record: a line break or the end of the text. Blank lines carry no record.
    if (!(record.length === 1 && record[0] === '')) {
      records.push(record);
      lines.push(recordLine);
    }
    record = [];
    if (i >= n) break;
    if (text.charCodeAt(i) === CR && text.charCodeAt(i + 1) === LF) i++;
    i++;
    line++;
    recordLine = line;
    recordStart = i;
    if (i >= n) break;
  }
  if (records.length === 0) throw new CxrDataError(`${file}: empty CSV (no header row)`, file);
  const header = records[0].map((h) => h.trim());
  const rows = records.slice(1);
  const rowLines = lines.slice(1);
  for (let r = 0; r < rows.length; r++) {
    // A trailing empty column (NIH's Data_Entry has one) may be missing on some rows.
    while (rows[r].length < header.length && header[header.length - 1] === '') rows[r].push('');
    if (rows[r].length !== header.length) {
      throw new CxrDataError(`${file}: row at line ${rowLines[r]} has ${rows[r].length} fields, expected ${header.length} (header: ${header.join(',')})`, file, rowLines[r]);
    }
  }
  return { file, header, rows, lines: rowLines };
}

/** Column index by name; a clear error lists the columns present. */
export function column(table: CsvTable, name: string): number {
  const idx = table.header.indexOf(name);
  if (idx < 0) throw new CxrDataError(`${table.file}: missing column "${name}"; columns are ${table.header.map((h) => JSON.stringify(h)).join(', ')}`, table.file, 1);
  return idx;
}
