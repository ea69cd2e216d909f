/** How many items of a listed problem (missing keys, unexpected keys, ...) a failure shows. */
export const LISTED = 5;

// A detail line of an error: `<what> (<count>): <item>, <item>, ...` (or items split by `; `).
const LIST_LINE = /^\s*([^:()]+?) \((\d+)\): (.*)$/;

/**
 * The text a failed command prints after `moco-cxr <command>: `: the reason's first line, then each
 * listed problem under it (e.g. a state dict's missing and unexpected keys) with its first few
 * items and how many more there are; the full lists stay in the error (and in run.json).
 */
export function failureText(message: string): string {
  const [first, ...rest] = message.split('\n');
  const lists = rest.flatMap((line) => {
    const m = LIST_LINE.exec(line);
    if (!m) return [];
    const [, what, countText, itemsText] = m;
    const count = Number(countText);
    const sep = itemsText.includes('; ') ? '; ' : ', ';
    const items = itemsText.split(sep);
    // Already shortened (a job process's own failure), or not a plain list: shown as it is.
    if (/\band \d+ more$/.test(itemsText) || items.length !== count) return [`  ${what} (${count}): ${itemsText}`];
    const shown = items.slice(0, LISTED).join(sep);
    return [`  ${what} (${count}): ${shown}${count > LISTED ? `${sep}and ${count - LISTED} more` : ''}`];
  });
  return [first, ...lists].join('\n');
}

/**
 * The failure a `moco-cxr` child process printed on stderr (the tail of its output): from its
 * last `moco-cxr <command>: ` line to the end. `headline` keeps only that line.
 */
export function failureFromOutput(stderr: string, opts: { headline?: boolean } = {}): string {
  const lines = stderr
    .split(/\r?\n|\r/)
    .map((l) => l.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').trimEnd())
    .filter((l) => l.trim());
  let start = -1;
  for (let i = lines.length - 1; i >= 0 && start < 0; i--) if (/^moco-cxr[ :]/.test(lines[i])) start = i;
  if (start < 0) return lines.pop()?.trim() ?? '';
  return opts.headline ? lines[start] : lines.slice(start).join('\n');
}
