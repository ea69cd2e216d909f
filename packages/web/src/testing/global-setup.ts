// Builds the page once for every browser test file (vitest globalSetup); the folder is removed afterwards.
import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { buildPage } from './page';

declare module 'vitest' {
  export interface ProvidedContext {
    pageDir: string;
  }
}

export default async function setup(project: TestProject) {
  const dir = await buildPage();
  project.provide('pageDir', dir);
  return () => rmSync(dir, { recursive: true, force: true });
}
