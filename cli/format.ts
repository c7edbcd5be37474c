/** Human output of the `eac` service commands: aligned plain-text tables (numbers right-aligned) and key/value blocks. */

export type Cell = string | number | boolean | null | undefined;

export interface Column<T> {
  readonly header: string;
  readonly value: (row: T) => Cell;
  /** Right-aligned (numbers); default: right when every value is a number. */
  readonly right?: boolean;
}

function text(c: Cell): string {
  if (c === null || c === undefined) return '-';
  if (typeof c === 'number') return Number.isInteger(c) ? String(c) : String(Number(c.toFixed(3)));
  return String(c);
}

/**
 * A table with a header line, one line per row and, when given, a separator and a footer row (totals). Columns are
 * separated by two spaces; trailing blanks are trimmed.
 */
export function table<T>(rows: readonly T[], columns: readonly Column<T>[], footer?: readonly Cell[]): string {
  const body = rows.map((r) => columns.map((c) => c.value(r)));
  const all = [columns.map((c) => c.header), ...body.map((r) => r.map(text)), ...(footer ? [footer.map(text)] : [])];
  const widths = columns.map((_, k) => Math.max(...all.map((r) => (r[k] ?? '').length)));
  const right = columns.map((c, k) => c.right ?? (body.length > 0 && body.every((r) => typeof r[k] === 'number' || r[k] === null || r[k] === undefined) && body.some((r) => typeof r[k] === 'number')));
  const line = (cells: readonly string[]): string =>
    cells
      .map((s, k) => (right[k] ? s.padStart(widths[k]!) : s.padEnd(widths[k]!)))
      .join('  ')
      .trimEnd();
  const out = [line(all[0]!), ...all.slice(1, 1 + body.length).map(line)];
  if (footer) {
    out.push(widths.map((w) => '-'.repeat(w)).join('  '));
    out.push(line(all[all.length - 1]!));
  }
  return `${out.join('\n')}\n`;
}

/** `key: value` lines, keys aligned. */
export function fields(pairs: readonly (readonly [string, Cell])[]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${`${k}:`.padEnd(width + 1)} ${text(v)}`).join('\n') + '\n';
}

/** `2030-06-01T00:00:00.000Z` → `2030-06-01 00:00:00Z` (null → `open`). */
export function when(iso: unknown, open = '-'): string {
  if (iso === null || iso === undefined) return open;
  return String(iso).replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
