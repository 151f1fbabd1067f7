/** The Kysely handle every repository runs on: the database, or the transaction it is bound to. */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from './schema.js';

export type Db = Kysely<Database> | Transaction<Database>;

/**
 * A LIKE pattern matching what starts with `prefix`: `%`, `_` and backslash are escaped (the
 * default escape character of both engines), so a prefix is only ever a prefix.
 */
export function likePrefix(prefix: string): string {
  return prefix.replace(/[\\%_]/g, (c) => `\\${c}`) + '%';
}

/**
 * Rows one set-based statement writes at most. Each column travels as one array parameter, so
 * PostgreSQL's limit of 65,535 parameters is far away; the bound keeps each statement (and the
 * memory PGlite needs for it) small however large the fleet.
 */
export const ROWS_PER_STATEMENT = 1000;

/** `items` in consecutive slices of at most `size`. */
export function inBatches<T>(items: readonly T[], size: number = ROWS_PER_STATEMENT): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`batch size ${size} is not >= 1`);
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += size) batches.push(items.slice(i, i + size));
  return batches;
}

/**
 * Orders ids the same way in every process: writers of many rows that go in this order take
 * their row locks in one order, so two of them cannot deadlock on each other.
 */
export function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The database's clock: the start of the current transaction. Times that several server
 * processes compare are taken from it, never from one process's own clock.
 */
export const dbNow = sql<Date>`now()`;
