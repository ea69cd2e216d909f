import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KERMANY_DIR } from '../fixtures';

export interface DicomFixture {
  name: string;
  note: string;
  lossy: boolean;
  transferSyntax: string;
  bitsStored: number;
  signed: boolean;
  photometric: string;
  width: number;
  height: number;
}

export interface DicomFixtures {
  dir: string;
  files: DicomFixture[];
  patientIds: string[];
  patientNames: string[];
  /** pydicom's grey reference of a fixture (modality LUT, VOI LUT or window, min-max to 0-255, MONOCHROME1 inverted). */
  reference(name: string): Uint8Array;
}

/**
 * Builds the DICOM fixtures from Kermany images into `dir` with pydicom and dcmtk (src/test-support/dicom/make-fixtures.py);
 * they are made in the test run, never kept in the repository.
 */
export function buildDicomFixtures(dir: string): DicomFixtures {
  const script = new URL('./make-fixtures.py', import.meta.url).pathname;
  const r = spawnSync('/usr/bin/python3', [script, dir, KERMANY_DIR], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`make-fixtures.py failed (exit ${r.status}${r.error ? `, ${r.error.message}` : ''}); it needs apt packages dcmtk python3-pydicom python3-gdcm python3-numpy python3-pil and the Kermany data at ${KERMANY_DIR}:\n${r.stderr}`);
  }
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as Omit<DicomFixtures, 'dir' | 'reference'>;
  return { dir, ...manifest, reference: (name) => new Uint8Array(readFileSync(join(dir, `${name}.ref`))) };
}
