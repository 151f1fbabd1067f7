/**
 * What an audit entry keeps of a call's arguments: secrets replaced, environment values (which
 * may be secrets) replaced, and anything large kept as its size and SHA-256 (a manifest, a
 * service map over the limit) so the trail stays small and still proves what was sent.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../store/index.js';

export const REDACTED = '[redacted]';
/** Arguments kept whole up to this size (canonical JSON bytes). */
export const ARGS_KEPT_BYTES = 16 * 1024;

/** Keys whose values are secrets wherever they appear. */
const SECRET_KEY = /token|secret|password|passwd|credential|private|^key$/i;

export function redactArgs(value: unknown): unknown {
  const clean = redact(value, null);
  const text = canonicalJson(clean ?? null);
  if (Buffer.byteLength(text) <= ARGS_KEPT_BYTES) return clean;
  return {
    omitted: 'too large to keep whole',
    bytes: Buffer.byteLength(text),
    sha256: createHash('sha256').update(text).digest('hex'),
  };
}

function redact(v: unknown, key: string | null): unknown {
  if (key !== null && SECRET_KEY.test(key)) return REDACTED;
  if (Array.isArray(v)) return v.map((x) => redact(x, null));
  // A refused call may carry what the database cannot store (NUL): kept visible, not as such.
  if (typeof v === 'string') return v.replaceAll('\u0000', '\ufffd');
  if (v === null || typeof v !== 'object') return v;
  const o = v as Record<string, unknown>;
  // `env:` maps of the service map: their values may be secrets, their names are not.
  if (key === 'env') return Object.fromEntries(Object.keys(o).map((k) => [k, REDACTED]));
  return Object.fromEntries(
    Object.entries(o).map(([k, x]) => [k.replaceAll('\u0000', '\ufffd'), redact(x, k)]),
  );
}
