/**
 * One unit of work per operation: the change, the events that describe it (the outbox) and the
 * announcement of new goals all commit in one transaction, or none of them does. Whatever reacts
 * to events reads them back from the store, so every server process on the database sees them.
 */
import type { NewEvent, Store } from '../../store/index.js';
import type { AuditRecorder, CallAudit } from '../audit/recorder.js';
import { actorOf, type Identity } from '../authz/identity.js';

export interface Work {
  /** The store, bound to this unit's transaction. */
  tx: Store;
  actor: Identity;
  /** Records an event, written with the change and attributed to the actor. */
  emit: (type: string, data: Record<string, unknown>, deploymentId?: string | null) => void;
  /** Announces that these hosts' goals changed, so their agents' long polls answer. */
  goalsChanged: (hostIds: Iterable<string>) => void;
}

/**
 * A goal announcement names the hosts, within PostgreSQL's 8000-byte payload limit; beyond that
 * it says `*`, and every waiting agent looks again.
 */
const GOAL_PAYLOAD_MAX = 7_000;
export const ALL_HOSTS = '*';

export class UnitOfWork {
  /** `audit`: the call being served and deployments' state changes go into the audit trail too. */
  constructor(
    private readonly store: Store,
    private readonly audit?: AuditRecorder,
  ) {}

  run<T>(actor: Identity, fn: (work: Work) => Promise<T>): Promise<T> {
    let recorded: CallAudit | null = null;
    const run = this.store.transaction(async (tx) => {
      const events: NewEvent[] = [];
      const goals = new Set<string>();
      const result = await fn({
        tx,
        actor,
        emit: (type, data, deploymentId = null) =>
          events.push({ type, data, deploymentId, actor: actorOf(actor) }),
        goalsChanged: (ids) => {
          for (const id of ids) goals.add(id);
        },
      });
      if (events.length > 0) {
        const last = await tx.events.add(events);
        await tx.notify('events', String(last));
      }
      if (this.audit) {
        const { entries, call } = this.audit.entriesOf(actor, events);
        recorded = call;
        await tx.audit.append(entries);
      }
      if (goals.size > 0) {
        const ids = [...goals].join(',');
        await tx.notify('goals', ids.length <= GOAL_PAYLOAD_MAX ? ids : ALL_HOSTS);
      }
      return result;
    });
    return run.catch((e: unknown) => {
      // Rolled back: the call's entry is written after it, with the error.
      if (recorded) recorded.recorded = false;
      throw e;
    });
  }
}
