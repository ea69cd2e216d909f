import { defineConfig } from 'tsup';
import { packageConfigs } from '../../tools/tsup';

export default defineConfig(packageConfigs({ index: 'src/index.ts', browser: 'src/browser.ts' }));
