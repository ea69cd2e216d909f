import { defineConfig } from 'tsup';
import { packageConfig } from '../../tools/tsup';

// ImageSet is a type-only import from cxr-data, which is not a dependency: its type is copied into the .d.ts.
export default defineConfig(packageConfig({ index: 'src/index.ts', browser: 'src/browser.ts' }, { inlineTypesFrom: ['@moco-cxr/cxr-data'] }));
