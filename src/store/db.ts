/** The Kysely handle every repository runs on: the database, or the transaction it is bound to. */
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

export type Db = Kysely<Database> | Transaction<Database>;

/**
 * A LIKE pattern matching what starts with `prefix`: `%`, `_` and backslash are escaped (the
 * default escape character of both engines), so a prefix is only ever a prefix.
 */
export function likePrefix(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
}
