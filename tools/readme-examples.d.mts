/** The ```ts blocks of a Markdown file, with the line each starts on. */
export function tsBlocks(markdown: string): { line: number; code: string }[];
/** Registers one vitest test per ```ts block of `<packageDir>/README.md`. */
export function readmeExampleTests(packageDir: string, options?: { timeout?: number }): void;
