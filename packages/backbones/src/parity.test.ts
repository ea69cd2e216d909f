import { paritySuite } from './test-support/parity-suite';

paritySuite(1);
