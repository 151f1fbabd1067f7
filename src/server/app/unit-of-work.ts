/**
 * One unit of work per operation: the change, the events that describe it (the outbox) and the
 * announcement of new goals all commit in one transaction, or none of them does. Whatever reacts
 * to events reads them back from the store, so every server process on the database sees them.
 */
import type { NewEvent, Store } from '../../store/index.js';
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
  constructor(private readonly store: Store) {}

  run<T>(actor: Identity, fn: (work: Work) => Promise<T>): Promise<T> {
    return this.store.transaction(async (tx) => {
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
      if (goals.size > 0) {
        const ids = [...goals].join(',');
        await tx.notify('goals', ids.length <= GOAL_PAYLOAD_MAX ? ids : ALL_HOSTS);
      }
      return result;
    });
  }
}
