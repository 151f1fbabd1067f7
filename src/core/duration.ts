/** Durations as users write them (`250ms`, `2s`, `1m30s`, a token's `30d`) and back. */

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 } as const;
type Unit = keyof typeof UNIT_MS;
/** Units in the only order they may appear in, so `30s1m` and `1s1s` are refused as likely typos. */
const UNIT_ORDER: readonly Unit[] = ['d', 'h', 'm', 's', 'ms'];

const BARE_NUMBER = /^\d+(?:\.\d+)?$/;
// `ms` must come before `m` and `s` in the alternation, else `250ms` would read as `250m` + `s`.
const PART = /(\d+(?:\.\d+)?)(ms|d|h|m|s)/y;

/**
 * Parses a duration into whole milliseconds (rounded). Accepts `250ms`, `2s`, `1.5s`, `5m`,
 * `1h`, `30d`, combinations from the largest unit down (`1h30m`, `1m30s`), and a bare number, which
 * means milliseconds. Returns undefined for anything else: negative, empty, unknown units.
 */
export function parseDuration(s: string | number): number | undefined {
  if (typeof s === 'number') {
    return Number.isFinite(s) && s >= 0 ? Math.round(s) : undefined;
  }
  const text = s.trim();
  if (text === '') return undefined;
  if (BARE_NUMBER.test(text)) return Math.round(Number(text));

  let total = 0;
  let nextUnit = 0;
  PART.lastIndex = 0;
  while (PART.lastIndex < text.length) {
    const m = PART.exec(text);
    if (!m) return undefined;
    const unit = m[2] as Unit;
    const rank = UNIT_ORDER.indexOf(unit);
    if (rank < nextUnit) return undefined;
    nextUnit = rank + 1;
    total += Number(m[1]) * UNIT_MS[unit];
  }
  return Number.isFinite(total) ? Math.round(total) : undefined;
}

/** Seconds with at most three decimals and no trailing zeros: 1.5, 2, 0.25. */
function trimmed(n: number): string {
  return String(Number(n.toFixed(3)));
}

/**
 * Renders milliseconds the way users write them, so the result parses back with
 * {@link parseDuration}: `250ms`, `1.5s`, `2m`, `1m30s`, `1h5m`.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${trimmed(ms / 1_000)}s`;
  const hours = Math.floor(ms / UNIT_MS.h);
  const minutes = Math.floor((ms % UNIT_MS.h) / UNIT_MS.m);
  const seconds = (ms % UNIT_MS.m) / UNIT_MS.s;
  let out = '';
  if (hours > 0) out += `${hours}h`;
  if (minutes > 0) out += `${minutes}m`;
  if (seconds > 0) out += `${trimmed(seconds)}s`;
  return out;
}
