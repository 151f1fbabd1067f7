/**
 * The messages between the main thread and the thread that runs PGlite (`pglite-worker.ts`).
 * Values cross by structured clone: Date, Uint8Array, bigint, arrays and plain objects arrive
 * as they left, so parameters and rows are what they would be with PGlite on this thread.
 */

/** What the worker thread is started with. */
export interface WorkerSettings {
  /** The data directory; null: in memory. */
  dataDir: string | null;
}

/** Main thread → worker; every request gets exactly one reply with its id. */
export type Request =
  | { id: number; op: 'query'; sql: string; params: readonly unknown[] }
  | { id: number; op: 'listen'; channel: string }
  | { id: number; op: 'close' };

/** Worker → main thread. */
export type Reply =
  | { kind: 'ready' }
  /** Opening the database failed; the worker ends. */
  | { kind: 'failed'; error: WireError }
  | { kind: 'done'; id: number; rows: unknown[]; affectedRows: number | undefined }
  | { kind: 'error'; id: number; error: WireError }
  | { kind: 'notification'; channel: string; payload: string };

/** An error as it crosses threads: its message and PostgreSQL's fields (code, detail, …). */
export interface WireError {
  message: string;
  fields: Record<string, string>;
}

/** PostgreSQL's error fields, as node-postgres and PGlite name them on their errors. */
const FIELDS = [
  'code',
  'severity',
  'detail',
  'hint',
  'position',
  'internalPosition',
  'internalQuery',
  'where',
  'schema',
  'table',
  'column',
  'dataType',
  'constraint',
  'routine',
] as const;

export function toWire(e: unknown): WireError {
  const fields: Record<string, string> = {};
  if (typeof e === 'object' && e !== null) {
    for (const f of FIELDS) {
      const v = (e as Record<string, unknown>)[f];
      if (typeof v === 'string') fields[f] = v;
    }
  }
  return { message: e instanceof Error ? e.message : String(e), fields };
}

/**
 * An error PostgreSQL raised in the embedded database: the message and fields it had there, so
 * that `code === '23505'` (a unique violation) and the like read as they would on PostgreSQL.
 */
export class EmbeddedDatabaseError extends Error {
  readonly code?: string;
  readonly severity?: string;
  readonly detail?: string;
  readonly hint?: string;
  readonly constraint?: string;
  readonly table?: string;
  readonly column?: string;

  constructor(wire: WireError) {
    super(wire.message);
    this.name = 'DatabaseError';
    Object.assign(this, wire.fields);
  }
}
