/**
 * The audit trail's hash chain: each entry's hash is the SHA-256 of its canonical form, which
 * holds the hash of the entry before. Changing, removing or reordering an entry breaks the chain
 * at that entry; `verifyChain` walks it and names the first place it breaks.
 */
import { createHash } from 'node:crypto';

/** The `prev` of the first entry. */
export const GENESIS = '0'.repeat(64);

/** An entry as appended: everything but its place in the chain. */
export interface NewAuditEntry {
  at: Date;
  /** `user:<name>`, `agent:<host id>`, `join`, `anonymous`, `system:<part>`. */
  actor: string;
  tokenId: string | null;
  /** The caller's address. */
  source: string | null;
  /** The route (`createDeployment`) or change (`deployment.state`). */
  operation: string;
  /** Its arguments, secrets redacted. */
  args: unknown;
  /** What it acted on: environment, service, release, deployment, … */
  target: Record<string, string | number>;
  /** `ok`, or what went wrong (`refused: …`, `INVALID: …`). */
  result: string;
}

export interface AuditEntry extends NewAuditEntry {
  seq: number;
  prevHash: string;
  hash: string;
}

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const o = v as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(o)
        .sort()
        .map((k) => [k, o[k]]),
    );
  });
}

export function entryHash(e: NewAuditEntry & { seq: number; prevHash: string }): string {
  const canonical = canonicalJson({
    seq: e.seq,
    at: e.at.toISOString(),
    actor: e.actor,
    tokenId: e.tokenId,
    source: e.source,
    operation: e.operation,
    args: e.args,
    target: e.target,
    result: e.result,
    prev: e.prevHash,
  });
  return createHash('sha256').update(canonical).digest('hex');
}

/** What a walk of the chain found. */
export interface AuditVerdict {
  ok: boolean;
  /** Entries checked. */
  entries: number;
  /** The last entry's seq and hash, as the chain says (compare them with a checkpoint). */
  head: { seq: number; hash: string };
  /** Where it first breaks, and how. */
  problem: { seq: number; message: string } | null;
}

/**
 * Walks the chain, a page at a time in order of seq, against the head the store keeps; stops at
 * the first entry that does not hold.
 */
export async function verifyChain(
  page: (afterSeq: number) => Promise<AuditEntry[]>,
  storedHead: { seq: number; hash: string },
): Promise<AuditVerdict> {
  let prev = { seq: 0, hash: GENESIS };
  let entries = 0;
  const broken = (seq: number, message: string): AuditVerdict => ({
    ok: false,
    entries,
    head: prev,
    problem: { seq, message },
  });
  for (;;) {
    const rows = await page(prev.seq);
    if (rows.length === 0) break;
    for (const e of rows) {
      const expected = prev.seq + 1;
      if (e.seq !== expected) {
        return broken(
          expected,
          e.seq > expected
            ? `entr${e.seq - expected > 1 ? `ies ${expected}-${e.seq - 1} are` : `y ${expected} is`} missing: removed`
            : `entry ${e.seq} is out of order`,
        );
      }
      if (entryHash(e) !== e.hash) {
        return broken(
          e.seq,
          `entry ${e.seq} was changed (or moved): its content does not match its hash`,
        );
      }
      if (e.prevHash !== prev.hash) {
        return broken(
          e.seq,
          `entry ${e.seq} does not follow entry ${prev.seq}: entries were removed, reordered or rewritten`,
        );
      }
      prev = { seq: e.seq, hash: e.hash };
      entries++;
    }
  }
  if (storedHead.seq !== prev.seq || storedHead.hash !== prev.hash) {
    return broken(
      prev.seq + 1,
      storedHead.seq > prev.seq
        ? `the chain ends at entry ${prev.seq} but its head says ${storedHead.seq}: the last entries were removed`
        : `the chain's head (entry ${storedHead.seq}) does not match its last entry (${prev.seq})`,
    );
  }
  return { ok: true, entries, head: prev, problem: null };
}
