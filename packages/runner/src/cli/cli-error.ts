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
