import { defineConfig } from 'tsup';
import { packageConfig } from '../../tools/tsup';

export default defineConfig(packageConfig({ index: 'src/index.ts', browser: 'src/browser.ts' }));
