import { createHash } from 'node:crypto';

const DIGEST_RE = /^[0-9a-f]{64}$/;

/** SHA-256 of `data` as 64 lowercase hex characters; strings are hashed as UTF-8. */
export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** True when `s` looks like a digest Slipway produces: exactly 64 lowercase hex characters. */
export function isDigest(s: string): boolean {
  return DIGEST_RE.test(s);
}
