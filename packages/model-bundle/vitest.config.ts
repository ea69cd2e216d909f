import { vitestProject } from '../../tools/vitest.mjs';

export default vitestProject();
