/**
 * Leads: at most one process on a database holds a named lead at a time (the orchestrator's).
 *
 * On PostgreSQL a lead is a session advisory lock taken on a connection of its own and kept as
 * long as the lock: when the process dies, PostgreSQL ends its session and the lock with it, and
 * another process's next try takes it. The connection is checked every few seconds; a failed
 * check or a dropped connection counts as the lead lost (the session, and so the lock, may be
 * gone). PGlite is embedded, one process by construction: it always leads.
 */
import { createHash } from 'node:crypto';
import pg from 'pg';
import type { Leadership } from './repositories.js';

export interface LeadershipTiming {
  /** How often the lock's connection is checked while the lead is held. */
  checkMs: number;
  /** How long connecting, or one query, may take before the connection counts as lost. */
  timeoutMs: number;
}

export const DEFAULT_LEADERSHIP_TIMING: LeadershipTiming = { checkMs: 2_000, timeoutMs: 5_000 };

/**
 * The database drops the session of a holder whose machine vanished (no FIN, so no end of the
 * connection it would see) after about 5 + 3 × 2 = 11 s of silence, instead of the operating
 * system's default of hours, which would keep the lock and every other server standing by. The
 * holder itself gives up sooner: a check unanswered for `timeoutMs` counts as the lead lost.
 */
const SERVER_SIDE_KEEPALIVES =
  '-c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2 -c tcp_keepalives_count=3';

/** The advisory lock key of a lead: 64 bits of a hash of its name, as PostgreSQL's bigint. */
export function advisoryKey(name: string): string {
  return createHash('sha256').update(`slipway:${name}`).digest().readBigInt64BE(0).toString();
}

/** Callbacks told once each time a held lead is lost. */
class LostCallbacks {
  private readonly fns = new Set<(why: string) => void>();

  add(fn: (why: string) => void): () => void {
    this.fns.add(fn);
    return () => this.fns.delete(fn);
  }

  tell(why: string): void {
    for (const fn of this.fns) fn(why);
  }
}

/** The embedded engine's lead: there is no other process to lead instead. */
export class SoleLeadership implements Leadership {
  held = false;

  tryAcquire(): Promise<boolean> {
    this.held = true;
    return Promise.resolve(true);
  }

  onLost(): () => void {
    return () => {};
  }

  release(): Promise<void> {
    this.held = false;
    return Promise.resolve();
  }
}

/** A lead held as `pg_try_advisory_lock` on a dedicated connection. */
export class PostgresLeadership implements Leadership {
  held = false;
  private client: pg.Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private checking = false;
  private acquiring: Promise<boolean> | null = null;
  private released = false;
  private readonly lost = new LostCallbacks();
  private readonly key: string;

  constructor(
    private readonly url: string,
    private readonly name: string,
    private readonly timing: LeadershipTiming = DEFAULT_LEADERSHIP_TIMING,
  ) {
    this.key = advisoryKey(name);
  }

  tryAcquire(): Promise<boolean> {
    if (this.held) return Promise.resolve(true);
    this.released = false;
    this.acquiring ??= this.acquire().finally(() => (this.acquiring = null));
    return this.acquiring;
  }

  onLost(fn: (why: string) => void): () => void {
    return this.lost.add(fn);
  }

  /** Gives the lead up (ending the session ends the lock); a standby's idle connection too. */
  async release(): Promise<void> {
    this.released = true;
    await this.acquiring?.catch(() => false);
    this.held = false;
    this.stopChecking();
    const c = this.client;
    this.client = null;
    await c?.end().catch(() => {});
  }

  private async acquire(): Promise<boolean> {
    // A standby keeps its connection between tries: one connection per replica, not one per try.
    const client = this.client ?? (await this.connect());
    let ok: boolean;
    try {
      const r = await client.query<{ ok: boolean }>(
        'select pg_try_advisory_lock($1::bigint) as ok',
        [this.key],
      );
      ok = r.rows[0]?.ok === true;
    } catch (e) {
      this.broken(client, `trying the lock failed: ${(e as Error).message}`);
      throw e;
    }
    if (!ok || this.released || this.client !== client) return false;
    this.held = true;
    this.timer = setInterval(() => void this.check(client), this.timing.checkMs);
    this.timer.unref();
    return true;
  }

  private async connect(): Promise<pg.Client> {
    const client = new pg.Client({
      connectionString: this.url,
      connectionTimeoutMillis: this.timing.timeoutMs,
      query_timeout: this.timing.timeoutMs,
      keepAlive: true,
      application_name: `slipway lead: ${this.name}`,
      options: SERVER_SIDE_KEEPALIVES,
    });
    client.on('error', (e) => this.broken(client, `the connection failed: ${e.message}`));
    client.on('end', () => this.broken(client, 'the connection ended'));
    await client.connect();
    this.client = client;
    return client;
  }

  /** Is the session (and so the lock) still there? */
  private async check(client: pg.Client): Promise<void> {
    if (this.checking) return;
    this.checking = true;
    try {
      await client.query('select 1');
    } catch (e) {
      this.broken(client, `the connection check failed: ${(e as Error).message}`);
    } finally {
      this.checking = false;
    }
  }

  /** The connection is unusable: drop it, and tell whoever relies on the lead it is gone. */
  private broken(client: pg.Client, why: string): void {
    if (this.client !== client) return;
    this.client = null;
    this.stopChecking();
    client.end().catch(() => {});
    if (!this.held) return;
    this.held = false;
    this.lost.tell(why);
  }

  private stopChecking(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
