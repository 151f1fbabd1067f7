/**
 * The last lines a service process wrote to its log files, and how its exit reads: what a
 * process that dies during activation is reported with. Bounded (lines and bytes) and cleaned
 * of control characters, because it travels in the agent's report into events and terminals.
 */
import { open } from 'node:fs/promises';

/** At most this many lines of output are kept. */
export const OUTPUT_TAIL_LINES = 5;
/** At most this many characters of output are kept, and read from each log file. */
export const OUTPUT_TAIL_CHARS = 1024;

/** Where one run of a process started writing in a log file. */
export interface LogMark {
  path: string;
  offset: number;
}

/** How one run of a process ended, with the last lines it wrote. */
export interface ProcessExit {
  code: number | null;
  signal: string | null;
  /** Its last lines of output, stdout's then stderr's (see readOutputTail). */
  output: string[];
  /** A process taken over from an earlier agent, not this one's child: how it ended is unseen. */
  unseen?: boolean;
}

/**
 * The last non-empty lines written to each log since its mark, in the order of `marks` (a line
 * cut by the read starts with `…`); at most OUTPUT_TAIL_LINES lines of OUTPUT_TAIL_CHARS in all,
 * without control characters. A log that cannot be read adds nothing.
 */
export async function readOutputTail(marks: readonly LogMark[]): Promise<string[]> {
  const lines: string[] = [];
  for (const mark of marks) lines.push(...(await readLines(mark)));
  const tail = lines.slice(-OUTPUT_TAIL_LINES);
  while (tail.length > 1 && tail.join('\n').length > OUTPUT_TAIL_CHARS) tail.shift();
  if (tail.length === 1 && tail[0]!.length > OUTPUT_TAIL_CHARS) {
    tail[0] = `…${tail[0]!.slice(-(OUTPUT_TAIL_CHARS - 1))}`;
  }
  return tail;
}

async function readLines(mark: LogMark): Promise<string[]> {
  let f;
  try {
    f = await open(mark.path, 'r');
  } catch {
    return [];
  }
  try {
    const { size } = await f.stat();
    // A log shorter than the mark was truncated since: its tail is all there is.
    const from = size < mark.offset ? 0 : mark.offset;
    const start = Math.max(from, size - OUTPUT_TAIL_CHARS);
    const buf = Buffer.alloc(size - start);
    const { bytesRead } = await f.read(buf, 0, buf.length, start);
    const lines = buf
      .subarray(0, bytesRead)
      .toString('utf8')
      .split(/\r?\n|\r/);
    if (start > from && lines.length > 0) lines[0] = `…${lines[0]!.replace(/^\uFFFD+/, '')}`;
    return lines.map(withoutControls).filter((l) => l !== '' && l !== '…');
  } catch {
    return [];
  } finally {
    await f.close();
  }
}

/**
 * A line as a terminal would show it harmlessly: tabs as spaces, without control characters
 * (escape sequences lose their ESC), nor the invisible format characters that reorder or hide
 * text; trimmed.
 */
export function withoutControls(line: string): string {
  return line
    .replace(/\t/g, ' ')
    .replace(/[\p{Cc}\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/gu, '')
    .trim();
}

/** `exited with code 3`, `was killed by SIGKILL`, or `could not be started`. */
export function describeExit(exit: Pick<ProcessExit, 'code' | 'signal' | 'unseen'>): string {
  if (exit.unseen) return 'ended (taken over from an earlier agent: how is not known)';
  if (exit.code !== null) return `exited with code ${exit.code}`;
  if (exit.signal !== null) return `was killed by ${exit.signal}`;
  return 'could not be started';
}

/** ` (last output: "…")`, the lines quoted as one JSON string; ` (no output)` without any. */
export function describeOutput(output: readonly string[]): string {
  return output.length > 0
    ? ` (last output: ${JSON.stringify(output.join('\n'))})`
    : ' (no output)';
}
