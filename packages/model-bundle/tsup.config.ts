import { defineConfig } from 'tsup';
import { packageConfig } from '../../tools/tsup';

// Two entries: the main one runs in a browser (no Node built-ins); ./node reads and writes bundle folders.
export default defineConfig(packageConfig({ index: 'src/index.ts', node: 'src/node.ts' }));
