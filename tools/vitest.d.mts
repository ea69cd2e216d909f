import type { UserWorkspaceConfig } from 'vitest/config';

/** Shared vitest project: tests run against src/ through the source export condition. */
export declare function vitestProject(options?: { testTimeout?: number; fileParallelism?: boolean }): UserWorkspaceConfig;
