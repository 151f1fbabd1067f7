/**
 * How the CLI prints: aligned tables, sizes, progress lines and JSON for scripts. Everything
 * goes to the streams it is given, so a test can run a verb and read what it printed.
 */

/** Somewhere to write text: `process.stdout`, or a collector in a test. */
export interface TextStream {
  write(text: string): unknown;
  /** On a terminal, help text wraps to its width; elsewhere to 80 columns. */
  readonly isTTY?: boolean;
  readonly columns?: number;
}

/** Results go to stdout, where scripts read them; progress, notes and errors to stderr. */
export interface Streams {
  stdout: TextStream;
  stderr: TextStream;
}

/** The real terminal (or pipes), for the executable. */
export function processStreams(): Streams {
  return { stdout: process.stdout, stderr: process.stderr };
}

/** Writes a verb's output to a pair of streams. */
export class Output {
  constructor(readonly streams: Streams) {}

  /** A line of the verb's result, on stdout. */
  readonly line = (text: string): void => {
    this.streams.stdout.write(text + '\n');
  };

  /** A progress line or note, on stderr: a script piping stdout sees only the result. */
  readonly progress = (text: string): void => {
    this.streams.stderr.write(text + '\n');
  };

  /** What went wrong, on stderr: `error: message`, then one line per detail. */
  error(message: string, details: string[] = []): void {
    for (const l of [`error: ${message}`, ...details]) this.progress(l);
  }

  /** `value` as indented JSON on stdout. */
  json(value: unknown): void {
    this.streams.stdout.write(JSON.stringify(value, null, 2) + '\n');
  }

  /** The verb's result: `value` as JSON with `--json`, otherwise the lines `human` makes of it. */
  result<T>(value: T, json: boolean | undefined, human: (value: T) => string): void {
    if (json) this.json(value);
    else this.line(human(value));
  }

  /** Where progress goes: nowhere with `--json`, so that stdout holds one JSON document. */
  progressUnless(json: boolean | undefined): (text: string) => void {
    return json ? () => {} : this.progress;
  }
}

/** Rows as an aligned table with a header; a missing cell prints as `-`. */
export function table(headers: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [
    headers,
    ...rows.map((r) => r.map((c) => (c === null || c === undefined ? '-' : String(c)))),
  ];
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells
    .map((r) =>
      r
        .map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** A byte count in binary units, e.g. `1.5 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** The first 12 characters of an id: enough to tell ids apart in a table. */
export function shortId(id: string): string {
  return id.slice(0, 12);
}

/**
 * Sorts rows by region, in place, keeping the order within each (the API pages by host name,
 * tables group by region).
 */
export function byRegion<T extends { region: string }>(rows: T[]): T[] {
  return rows.sort((a, b) => (a.region === b.region ? 0 : a.region < b.region ? -1 : 1));
}
