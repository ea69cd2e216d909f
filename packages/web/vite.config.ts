import { defaultClientConditions, defineConfig } from 'vite';
import { bundlesPlugin } from './serve-bundles.ts';

// Workspace packages resolve to their TypeScript sources (the @moco-cxr/source condition): the page needs no build of them.
export default defineConfig({
  resolve: { conditions: ['@moco-cxr/source', ...defaultClientConditions] },
  plugins: [bundlesPlugin()],
  build: { target: 'es2022', chunkSizeWarningLimit: 8000 },
});
