/**
 * The orchestrator keeps the deployment it last wrote and reads back only the row's time and
 * cancellation flag: what another writer changes must still reach the next step.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planDeployment, type Deployment } from '../src/core/index.js';
import { openStore, type Store } from '../src/store/index.js';
import type { DeploymentSteps } from '../src/server/app/deployment-step.js';
import { UnitOfWork } from '../src/server/app/unit-of-work.js';
import { Orchestrator } from '../src/server/orchestrator.js';

describe('the deployment the orchestrator keeps', () => {
  let store: Store;
  let o: Orchestrator;
  /** What each step was given, and what it should write (null: nothing changed). */
  const given: Deployment[] = [];
  let write: ((d: Deployment) => Deployment) | null = null;
  const reads = { whole: 0 };

  beforeAll(async () => {
    store = await openStore({ engine: 'pglite', dataDir: null });
    // Whole reads counted in the orchestrator's transactions.
    const counted = (tx: Store) => {
      const whole = tx.deployments.getForUpdate.bind(tx.deployments);
      tx.deployments.getForUpdate = (id) => (reads.whole++, whole(id));
      return tx;
    };
    const transaction = store.transaction.bind(store);
    store.transaction = <T>(fn: (tx: Store) => Promise<T>) => transaction((tx) => fn(counted(tx)));
    const steps = {
      take: (_work: unknown, d: Deployment) => {
        given.push(d);
        return Promise.resolve(write ? write(d) : null);
      },
    } as unknown as DeploymentSteps;
    o = new Orchestrator({ store, uow: new UnitOfWork(store), steps, tickMs: 3_600_000 });
    o.start();
    while (!o.isLeading) await new Promise((r) => setTimeout(r, 5));
    await o.pass(); // the first, kicked on taking the lead, with nothing to step
  });
  afterAll(async () => {
    await o.stop();
    await store.close();
  });

  it('reads the whole document only when another writer wrote the row', async () => {
    const d = planDeployment({
      id: 'kept-1',
      service: 'svc',
      environment: 'prod',
      kind: 'deploy',
      release: 2,
      hosts: [{ id: 'h1', name: 'alpha', region: 'eu', labels: {} }],
      previous: new Map(),
      rollout: { batchSize: { count: 1 }, failureThreshold: { count: 0 } },
    });
    await store.deployments.add(d, 'c'.repeat(64));

    // First step: the whole row is read; the step writes a deadline.
    write = (x) => ({ ...x, deadline: 1_000 });
    await o.pass();
    expect(reads.whole).toBe(1);
    expect(given.at(-1)!.deadline).toBeNull();

    // Nobody else wrote: the next step gets what was written, without reading the document.
    write = null;
    await o.pass();
    expect(reads.whole).toBe(1);
    expect(given.at(-1)!.deadline).toBe(1_000);
    await o.pass();
    expect(reads.whole).toBe(1);

    // A cancellation (another writer): seen by the next step.
    const row = (await store.deployments.get('kept-1'))!;
    await store.deployments.update({ ...row.deployment, cancelRequested: true });
    await o.pass();
    expect(given.at(-1)!.cancelRequested).toBe(true);
    expect(reads.whole).toBe(2);

    // Any other change by another writer is read whole, too.
    await store.deployments.update({ ...row.deployment, cancelRequested: true, reason: 'edited' });
    await o.pass();
    expect(given.at(-1)!.reason).toBe('edited');
    expect(reads.whole).toBe(3);
  });
});
