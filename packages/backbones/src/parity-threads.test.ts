import { paritySuite } from './test-support/parity-suite';

// Users run with every core: the same torchvision parity on threaded wasm.
paritySuite(2);
