/**
 * When an environment takes deployments: its windows (days and hours in a time zone; a window
 * whose `to` is earlier than its `from` runs past midnight) and its freezes (dated ranges with a
 * reason). Pure; time zones through Intl.
 */

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

export interface DeployWindow {
  /** The days a window starts on, in its time zone. */
  days: Weekday[];
  /** Minutes after local midnight. */
  fromMinute: number;
  toMinute: number;
  timezone: string;
}

export interface Freeze {
  from: number;
  to: number;
  reason: string;
}

export type WindowVerdict =
  { allowed: true } | { allowed: false; reason: string; nextAllowed: number | null };

/** Looks this far ahead for the next allowed time. */
const HORIZON_DAYS = 400;

/** Whether a deployment may start at `now`, and if not why and when it may. */
export function deployWindowCheck(
  windows: readonly DeployWindow[],
  freezes: readonly Freeze[],
  now: number,
): WindowVerdict {
  const freeze = freezes.find((f) => f.from <= now && now < f.to);
  const inWindow = windows.length === 0 || windows.some((w) => windowAround(w, now) !== null);
  if (!freeze && inWindow) return { allowed: true };
  const reason = freeze
    ? `frozen until ${new Date(freeze.to).toISOString()}: ${freeze.reason}`
    : `outside the deploy windows (${windows.map(describeWindow).join('; ')})`;
  return { allowed: false, reason, nextAllowed: nextAllowed(windows, freezes, now) };
}

/** The earliest time from `now` on that is in a window and in no freeze (null: none within the horizon). */
export function nextAllowed(
  windows: readonly DeployWindow[],
  freezes: readonly Freeze[],
  now: number,
): number | null {
  let t = now;
  const end = now + HORIZON_DAYS * 86_400_000;
  while (t < end) {
    const freeze = freezes.find((f) => f.from <= t && t < f.to);
    if (freeze) {
      t = freeze.to;
      continue;
    }
    if (windows.length === 0 || windows.some((w) => windowAround(w, t) !== null)) return t;
    const starts = windows.map((w) => nextStart(w, t)).filter((s): s is number => s !== null);
    if (starts.length === 0) return null;
    t = Math.min(...starts);
  }
  return null;
}

export function describeWindow(w: DeployWindow): string {
  return `${w.days.join(',')} ${hhmm(w.fromMinute)}-${hhmm(w.toMinute)} ${w.timezone}`;
}

function hhmm(m: number): string {
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
}

/** The [start, end) of the opening of `w` that holds `t`, or null. */
function windowAround(w: DeployWindow, t: number): [number, number] | null {
  // An opening that holds t started today or (past midnight) yesterday, local time.
  for (const back of [0, 1]) {
    const day = localDay(t - back * 86_400_000, w.timezone);
    const open = opening(w, day);
    if (open && open[0] <= t && t < open[1]) return open;
  }
  return null;
}

/** The start of the first opening of `w` after `t`. */
function nextStart(w: DeployWindow, t: number): number | null {
  for (let back = -1; back <= 8; back++) {
    const open = opening(w, localDay(t + back * 86_400_000, w.timezone));
    if (open && open[0] > t) return open[0];
  }
  return null;
}

interface LocalDay {
  year: number;
  month: number;
  day: number;
  weekday: Weekday;
}

/** The window's opening that starts on local `day`, if it starts that weekday. */
function opening(w: DeployWindow, day: LocalDay): [number, number] | null {
  if (!w.days.includes(day.weekday)) return null;
  const start = instantOf(day, w.fromMinute, w.timezone);
  const toDay = w.toMinute > w.fromMinute ? day : nextDay(day);
  return [start, instantOf(toDay, w.toMinute, w.timezone)];
}

function nextDay(d: LocalDay): LocalDay {
  const u = new Date(Date.UTC(d.year, d.month - 1, d.day + 1));
  return {
    year: u.getUTCFullYear(),
    month: u.getUTCMonth() + 1,
    day: u.getUTCDate(),
    weekday: WEEKDAYS[u.getUTCDay()]!,
  };
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function parts(t: number, timezone: string): Record<string, string> {
  let f = formatters.get(timezone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: timezone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    });
    formatters.set(timezone, f);
  }
  return Object.fromEntries(f.formatToParts(new Date(t)).map((p) => [p.type, p.value]));
}

function localDay(t: number, timezone: string): LocalDay {
  const p = parts(t, timezone);
  return {
    year: Number(p.year),
    month: Number(p.month),
    day: Number(p.day),
    weekday: p.weekday!.toLowerCase().slice(0, 3) as Weekday,
  };
}

/** The instant at local `minute` of local `day` in `timezone` (the later one in a DST gap). */
function instantOf(day: LocalDay, minute: number, timezone: string): number {
  const wall = Date.UTC(day.year, day.month - 1, day.day, Math.floor(minute / 60), minute % 60);
  let t = wall;
  // Two rounds of "wall time minus the zone's offset there" settle across a DST change.
  for (let i = 0; i < 2; i++) t = wall - offsetAt(t, timezone);
  return t;
}

/** The zone's offset from UTC at instant `t`, in ms. */
function offsetAt(t: number, timezone: string): number {
  const p = parts(t, timezone);
  const asUtc = Date.UTC(
    Number(p.year),
    Number(p.month) - 1,
    Number(p.day),
    Number(p.hour),
    Number(p.minute),
    Number(p.second),
  );
  return asUtc - Math.floor(t / 1000) * 1000;
}

/** Whether `timezone` is one Intl knows. */
export function isTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}
