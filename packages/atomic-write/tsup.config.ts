import { defineConfig } from 'tsup';
import { packageConfig } from '../../tools/tsup';

export default defineConfig(packageConfig());
