/** API tokens: how they look and how they are kept (hashes only). */
import { createHash, randomBytes } from 'node:crypto';
import type { TokenKind } from '../../store/index.js';

/** A new random token, prefixed with its kind so a leaked one is recognisable. */
export function newToken(kind: TokenKind): string {
  return `slw_${kind}_${randomBytes(24).toString('base64url')}`;
}

/** Tokens are 192-bit random strings, so a plain SHA-256 is a sufficient one-way hash. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
