import { paritySuite } from './parity-suite';

paritySuite(1);
