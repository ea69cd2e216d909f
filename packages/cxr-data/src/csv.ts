import { readFileSync } from 'node:fs';
import { CxrDataError } from './errors';

export interface CsvTable {
  file: string;
  header: string[];
  /** Data rows; `lines[i]` is the 1-based line number of rows[i] in the file (header = line 1). */
  rows: string[][];
  lines: number[];
}

/** RFC 4180 CSV: quoted fields, doubled quotes, CRLF or LF. Rows with a wrong field count are errors. */
export function readCsv(file: string): CsvTable {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CxrDataError(`cannot read CSV ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, file);
  }
  return parseCsv(text, file);
}

export function parseCsv(text: string, file = '<csv>'): CsvTable {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const records: string[][] = [];
  const lines: number[] = [];
  let field = '';
  let record: string[] = [];
  let line = 1;
  let recordLine = 1;
  let quoted = false;
  let i = 0;
  const n = text.length;
  const endRecord = () => {
    record.push(field);
    field = '';
    // Blank lines carry no record.
    if (!(record.length === 1 && record[0] === '')) {
      records.push(record);
      lines.push(recordLine);
    }
    record = [];
  };
  while (i < n) {
    const c = text[i];
    if (quoted) {
      if (c === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        quoted = false;
        i++;
        continue;
      }
      if (c === '\n') line++;
      field += c;
      i++;
      continue;
    }
    if (c === '"' && field === '') {
      quoted = true;
      i++;
    } else if (c === ',') {
      record.push(field);
      field = '';
      i++;
    } else if (c === '\r' || c === '\n') {
      endRecord();
      if (c === '\r' && text[i + 1] === '\n') i++;
      i++;
      line++;
      recordLine = line;
    } else {
      field += c;
      i++;
    }
  }
  if (quoted) throw new CxrDataError(`${file}: unterminated quoted field starting on line ${recordLine}`, file, recordLine);
  if (field !== '' || record.length > 0) endRecord();
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
