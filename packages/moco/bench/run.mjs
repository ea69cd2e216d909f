// `npm run bench -w @moco-cxr/moco [-- script.ts args...]`: runs a bench script from the TypeScript sources.
//   moco-step.ts          MoCo step vs plain training step vs PyTorch, 64/128/224 px (default)
//   kermany-pretrain.ts   real learning run on Kermany train at 64 px + linear-probe evaluation
import { runTsBench } from '../../../tools/bench/run-ts.mjs';

process.exit(runTsBench(new URL('./', import.meta.url), 'moco-step.ts'));
