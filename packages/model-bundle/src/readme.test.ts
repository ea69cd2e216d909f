// Every ```ts example in this package's README runs as written.
import { fileURLToPath } from 'node:url';
import { readmeExampleTests } from '../../../tools/readme-examples.mjs';

readmeExampleTests(fileURLToPath(new URL('..', import.meta.url)));
