/**
 * Writes the audit trail: the call that changed something (in the transaction of the change,
 * when it made one; after it otherwise, with its result), every refused use of a token, and the
 * deployments' state changes (from the events of the transaction that made them). Every server
 * logs the chain's head now and then: a checkpoint that a rewritten chain cannot match.
 */
import type { NewAuditEntry, NewEvent, Store } from '../../store/index.js';
import { actorOf, type Identity } from '../authz/identity.js';

/** The call being served, as its audit entry will say it; `recorded` once its entry is written. */
export interface CallAudit {
  operation: string;
  actor: string;
  tokenId: string | null;
  source: string | null;
  args: unknown;
  target: Record<string, string | number>;
  recorded: boolean;
}

/** Refused calls recorded one by one per source address in a minute; the rest are counted. */
export const REFUSALS_PER_MINUTE = 20;
/** Source addresses whose refusals are counted at once (the oldest is dropped beyond). */
const REFUSAL_SOURCES = 10_000;
/** How often a server writes the chain's head to its log, when it moved. */
export const CHECKPOINT_EVERY_MS = 10 * 60_000;

export class AuditRecorder {
  /**
   * The call each served identity acts for. The identity handed to a handler is made for its
   * call, so the handler's units of work find the call through it: no AsyncLocalStorage, whose
   * promise hooks (Node 20 and 22) would tax every promise of the process, agents' included.
   */
  private readonly calls = new WeakMap<Identity, CallAudit>();
  /** Per source address: when its minute began (its first refusal in it), and refusals since. */
  private readonly refusals = new Map<string, { since: number; count: number }>();
  private timer: NodeJS.Timeout | null = null;
  private checkpointed = -1;

  constructor(
    private readonly store: Store,
    private readonly now: () => number,
    private readonly log: (msg: string) => void,
  ) {}

  /**
   * The identity to act as while serving `call`: a unit of work run as it records the call in
   * its transaction. A copy, since identities of a token are shared by its calls.
   */
  serving(identity: Identity, call: CallAudit): Identity {
    const own = { ...identity };
    this.calls.set(own, call);
    return own;
  }

  /**
   * The entries a transaction by `actor` adds: the call being served (once, if `actor` makes
   * it: an orchestrator pass the call kicked is not the call), and its deployments' state
   * changes. Called by the unit of work before it commits.
   */
  entriesOf(
    identity: Identity,
    events: readonly NewEvent[],
  ): { entries: NewAuditEntry[]; call: CallAudit | null } {
    const at = new Date(this.now());
    const actor = actorOf(identity);
    const entries: NewAuditEntry[] = [];
    let call = this.calls.get(identity) ?? null;
    if (call && !call.recorded) {
      call.recorded = true;
      // The deployment it made or changed, named by its events (a new one has no id before).
      const about = events.find((e) => e.deploymentId !== null);
      if (about) {
        call.target.deployment = about.deploymentId!;
        const release = (about.data as { release?: unknown }).release;
        if (typeof release === 'number') call.target.release = release;
      }
      entries.push(this.entry(call, 'ok', at));
    } else call = null;
    for (const e of events) {
      if (e.type !== 'deployment.state') continue;
      const d = e.data as {
        state?: string;
        reason?: string | null;
        service?: string;
        environment?: string;
        release?: number;
      };
      const target: Record<string, string | number> = { deployment: e.deploymentId ?? '' };
      if (d.environment) target.environment = d.environment;
      if (d.service) target.service = d.service;
      if (d.release !== undefined) target.release = d.release;
      entries.push({
        at,
        actor,
        tokenId: null,
        source: null,
        operation: 'deployment.state',
        args: { state: d.state ?? null, reason: d.reason ?? null },
        target,
        result: 'ok',
      });
    }
    // The caller marks `call` unrecorded again if its transaction rolls back.
    return { entries, call };
  }

  /** After the call: its entry, with what came of it, unless its transaction recorded it. */
  async finished(call: CallAudit, result: string): Promise<void> {
    if (call.recorded) return;
    call.recorded = true;
    await this.append([this.entry(call, result, new Date(this.now()))]).catch((e: unknown) =>
      // The call is answered as it went; the gap is said where operators look.
      this.log(
        `audit: could not record ${call.operation} by ${call.actor}: ${(e as Error).message}`,
      ),
    );
  }

  /**
   * A refused use of a token (or of none): recorded, up to REFUSALS_PER_MINUTE in the minute
   * from an address's first refusal; beyond, the next recorded refusal from it says how many
   * went unrecorded. (A minute of the clock would let a burst across its turn record twice as
   * many.)
   */
  async refused(call: Omit<CallAudit, 'recorded'>, reason: string): Promise<void> {
    const key = call.source ?? '';
    const now = this.now();
    let r = this.refusals.get(key);
    if (!r || now - r.since >= 60_000) {
      const unrecorded = r ? Math.max(0, r.count - REFUSALS_PER_MINUTE) : 0;
      this.refusals.delete(key);
      if (this.refusals.size >= REFUSAL_SOURCES)
        this.refusals.delete(this.refusals.keys().next().value!);
      r = { since: now, count: 0 };
      this.refusals.set(key, r);
      if (unrecorded > 0)
        reason += ` (and ${unrecorded} more refused from ${key || 'unknown'} in the minute before, not recorded one by one)`;
    }
    r.count++;
    if (r.count > REFUSALS_PER_MINUTE) return;
    await this.append([
      this.entry({ ...call, recorded: false }, `refused: ${reason}`, new Date(now)),
    ]).catch((e: unknown) =>
      this.log(`audit: could not record a refused ${call.operation}: ${(e as Error).message}`),
    );
  }

  /** Logs the chain's head now and every CHECKPOINT_EVERY_MS when it moved. */
  start(): void {
    if (this.timer) return;
    void this.checkpoint();
    this.timer = setInterval(() => void this.checkpoint(), CHECKPOINT_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  async checkpoint(): Promise<void> {
    try {
      const head = await this.store.audit.head();
      if (head.seq === this.checkpointed) return;
      this.checkpointed = head.seq;
      this.log(`audit checkpoint: entry ${head.seq}, sha256 ${head.hash}`);
    } catch (e) {
      this.log(`audit checkpoint failed: ${(e as Error).message}`);
    }
  }

  private entry(call: CallAudit, result: string, at: Date): NewAuditEntry {
    return {
      at,
      actor: call.actor,
      tokenId: call.tokenId,
      source: call.source,
      operation: call.operation,
      args: call.args,
      target: call.target,
      result: result.length > 1_000 ? `${result.slice(0, 1_000)}…` : result,
    };
  }

  private append(entries: NewAuditEntry[]): Promise<void> {
    return this.store.transaction((tx) => tx.audit.append(entries));
  }
}
