/**
 * The audit trail: appended one entry at a time under a lock on its head (so that replicas chain
 * their entries one after another), read in order, never updated or deleted by Slipway. On
 * PostgreSQL the server's runtime role may be granted INSERT and SELECT only.
 */
import { sql } from 'kysely';
import type { Db } from '../db.js';
import type { AuditQuery, AuditRepository } from '../repositories.js';
import {
  entryHash,
  verifyChain,
  type AuditEntry,
  type AuditVerdict,
  type NewAuditEntry,
} from '../audit-chain.js';

type Row = {
  seq: string | number;
  at: Date;
  actor: string;
  token_id: string | null;
  source: string | null;
  operation: string;
  args: unknown;
  target: unknown;
  result: string;
  prev_hash: string;
  hash: string;
};

function toEntry(r: Row): AuditEntry {
  return {
    seq: Number(r.seq),
    at: r.at,
    actor: r.actor,
    tokenId: r.token_id,
    source: r.source,
    operation: r.operation,
    args: r.args,
    target: r.target as AuditEntry['target'],
    result: r.result,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

export class KyselyAudit implements AuditRepository {
  constructor(private readonly db: Db) {}

  /** Appends entries in order; call it in a transaction (the head stays locked until it ends). */
  async append(entries: readonly NewAuditEntry[]): Promise<void> {
    if (entries.length === 0) return;
    const head = await sql<{ seq: string | number; hash: string }>`
      select seq, hash from audit_head where id = 1 for update
    `.execute(this.db);
    let seq = Number(head.rows[0]!.seq);
    let prevHash = head.rows[0]!.hash;
    for (const e of entries) {
      seq++;
      // Milliseconds: what a timestamptz gives back, so the hash checks against the stored row.
      const at = new Date(e.at.getTime());
      const hash = entryHash({ ...e, at, seq, prevHash });
      await this.db
        .insertInto('audit')
        .values({
          seq,
          at,
          actor: e.actor,
          token_id: e.tokenId,
          source: e.source,
          operation: e.operation,
          args: JSON.stringify(e.args ?? null),
          target: JSON.stringify(e.target),
          result: e.result,
          prev_hash: prevHash,
          hash,
        })
        .execute();
      prevHash = hash;
    }
    await this.db
      .updateTable('audit_head')
      .set({ seq, hash: prevHash })
      .where('id', '=', 1)
      .execute();
  }

  async list(q: AuditQuery): Promise<AuditEntry[]> {
    let query = this.db
      .selectFrom('audit')
      .selectAll()
      .where(sql<boolean>`seq > ${q.afterSeq ?? 0}`)
      .orderBy('seq')
      .limit(q.limit);
    if (q.since) query = query.where('at', '>=', q.since);
    if (q.actor) query = query.where('actor', '=', q.actor);
    if (q.environment) query = query.where(sql<boolean>`target->>'environment' = ${q.environment}`);
    return (await query.execute()).map((r) => toEntry(r));
  }

  async head(): Promise<{ seq: number; hash: string }> {
    const row = await this.db
      .selectFrom('audit_head')
      .select(['seq', 'hash'])
      .executeTakeFirstOrThrow();
    return { seq: Number(row.seq), hash: row.hash };
  }

  async verify(): Promise<AuditVerdict> {
    const head = await this.head();
    return verifyChain(async (after) => {
      const rows = await this.db
        .selectFrom('audit')
        .selectAll()
        .where(sql<boolean>`seq > ${after}`)
        .orderBy('seq')
        .limit(1_000)
        .execute();
      return rows.map((r) => toEntry(r));
    }, head);
  }
}
