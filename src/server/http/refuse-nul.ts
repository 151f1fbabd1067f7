/** Request parts with a NUL character are refused, saying where: PostgreSQL cannot store one. */
import { SlipwayError } from '../../core/index.js';

/**
 * Refuses a NUL character in any string or key of a request part: PostgreSQL text and JSON
 * columns cannot hold one, so it would otherwise fail as an internal error when stored.
 * Iterative (a deeply nested body cannot overflow the stack); the path is only built for the
 * value refused.
 */
export function refuseNul(value: unknown, where: string): void {
  if (containsNul(value)) throwNul(where, pathOfNul(value));
}

function containsNul(value: unknown): boolean {
  const stack = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') {
      if (v.includes('\0')) return true;
    } else if (Array.isArray(v)) {
      for (const item of v as unknown[]) stack.push(item);
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k.includes('\0')) return true;
        stack.push(child);
      }
    }
  }
  return false;
}

/** Where the first NUL is, as `a.b[2].c` (only walked once one is known to be there). */
function pathOfNul(value: unknown): string {
  const stack: { v: unknown; parent: number; key: string | number }[] = [
    { v: value, parent: -1, key: '' },
  ];
  const seen: { parent: number; key: string | number }[] = [];
  while (stack.length > 0) {
    const item = stack.pop()!;
    const at = seen.length;
    seen.push(item);
    const { v } = item;
    if (typeof v === 'string') {
      if (v.includes('\0')) return pathOf(seen, at);
    } else if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], parent: at, key: i });
    } else if (v !== null && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k.includes('\0')) return pathOf([...seen, { parent: at, key: k }], seen.length);
        stack.push({ v: child, parent: at, key: k });
      }
    }
  }
  return '';
}

function pathOf(seen: { parent: number; key: string | number }[], at: number): string {
  const keys: (string | number)[] = [];
  for (let i = at; i > 0; i = seen[i]!.parent) keys.unshift(seen[i]!.key);
  return keys
    .map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`))
    .join('')
    .replaceAll('\0', '\\0');
}

function throwNul(where: string, path: string): never {
  const at = path || '(root)';
  throw new SlipwayError(
    'INVALID',
    `invalid request ${where}: ${at}: contains a NUL character (\\0), which no name, label, value or message may hold; remove it`,
    { problems: [{ path: at, message: 'contains a NUL character' }] },
  );
}
