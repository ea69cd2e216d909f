export const packageRoot: string;
export function ukernelBuild(): { flags: string[]; sources: string[] };
export function compileUkernelProgram(options: {
  main: string;
  outDir: string;
  name?: string;
  mainFlags?: string[];
  sources?: string[];
  objects?: Record<string, string>;
}): Promise<{ exe: string; objects: Record<string, string> }>;
