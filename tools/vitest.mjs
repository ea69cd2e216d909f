import { defineProject } from 'vitest/config';

/** Shared vitest project: tests run against src/ through the source export condition. */
/** @param {{ testTimeout?: number; fileParallelism?: boolean }} [options] */
export function vitestProject(options = {}) {
  return defineProject({
    resolve: { conditions: ['@moco-cxr/source'] },
    ssr: { resolve: { conditions: ['@moco-cxr/source'] } },
    test: {
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: options.testTimeout ?? 60_000,
      hookTimeout: options.testTimeout ?? 60_000,
      fileParallelism: options.fileParallelism ?? true,
      pool: 'forks',
    },
  });
}
