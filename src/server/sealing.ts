/**
 * Secrets the control plane keeps in its database (the peer-ticket signing key) are sealed with
 * AES-256-GCM under the server key, which lives in a file beside the server, not in the
 * database: a copy of the database alone (a backup, a replica's read access) reveals nothing.
 * The authentication tag makes a changed or foreign ciphertext an error, never a wrong key.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { SlipwayError } from '../core/index.js';

/** Sealed text starts with this: anything else is a clear value stored by an older server. */
const PREFIX = 'slw-sealed-v1:';
export const SERVER_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

export function isSealed(text: string): boolean {
  return text.startsWith(PREFIX);
}

/** Seals `clear`, bound to `label` (what it is: a sealed value cannot pass for another). */
export function seal(key: Buffer, label: string, clear: string): string {
  checkKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(label));
  const body = Buffer.concat([cipher.update(clear, 'utf8'), cipher.final()]);
  return PREFIX + Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64');
}

/** Opens what `seal` made with the same key and label; throws when it cannot. */
export function unseal(key: Buffer, label: string, sealed: string): string {
  checkKey(key);
  const cannot = (why: string) =>
    new SlipwayError(
      'INTERNAL',
      `cannot open the stored ${label}: ${why}. It was sealed with another server key, or changed: every server on one database must use the same server.key (copy it from the data dir of the server that first started on this database)`,
    );
  if (!isSealed(sealed)) throw cannot('it is not sealed');
  const raw = Buffer.from(sealed.slice(PREFIX.length), 'base64');
  if (raw.length < IV_BYTES + TAG_BYTES) throw cannot('it is truncated');
  const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
  decipher.setAAD(Buffer.from(label));
  decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  try {
    const body = raw.subarray(IV_BYTES + TAG_BYTES);
    return Buffer.concat([decipher.update(body), decipher.final()]).toString('utf8');
  } catch {
    throw cannot('its authentication tag does not match');
  }
}

function checkKey(key: Buffer): void {
  if (key.length !== SERVER_KEY_BYTES) {
    throw new SlipwayError(
      'INTERNAL',
      `a server key has ${SERVER_KEY_BYTES} bytes, not ${key.length}`,
    );
  }
}
