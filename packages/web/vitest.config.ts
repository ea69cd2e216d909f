import { mergeConfig } from 'vitest/config';
import { vitestProject } from '../../tools/vitest.mjs';

// One browser at a time (the suite drives chromium on a shared machine); the page is built once for all files.
export default mergeConfig(vitestProject({ testTimeout: 240_000, fileParallelism: false }), { test: { globalSetup: ['./src/testing/global-setup.ts'] } });
