import { defineConfig } from 'tsup';
import { packageConfigs } from '../../tools/tsup';

// ImageSet is a type-only import from cxr-data, which is not a dependency: its type is copied into the .d.ts.
export default defineConfig(packageConfigs({ index: 'src/index.ts', browser: 'src/browser.ts' }, { inlineTypesFrom: ['@moco-cxr/cxr-data'] }));
