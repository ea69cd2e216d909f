import { defineConfig } from 'tsup';
import { packageConfig } from '../../tools/tsup';

// The library (ESM + CJS with types) and the `moco-cxr` executable (ESM, with a shebang).
export default defineConfig([
  packageConfig(['src/index.ts']),
  { ...packageConfig({ cli: 'src/cli/cli.ts' }), format: ['esm'], dts: false, clean: false, banner: { js: '#!/usr/bin/env node' } },
]);
