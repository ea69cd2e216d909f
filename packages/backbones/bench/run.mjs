// `npm run bench -w @moco-cxr/backbones [-- script.ts args...]` (default: train-step.ts).
import { runTsBench } from '../../../tools/bench/run-ts.mjs';

process.exit(runTsBench(new URL('./', import.meta.url), 'train-step.ts'));
