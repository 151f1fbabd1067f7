import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Leadership, Store } from '../store/index.js';
import type { DeploymentSteps } from './app/deployment-step.js';
import type { UnitOfWork } from './app/unit-of-work.js';
import { Orchestrator } from './orchestrator.js';

/** The steps are the unit of work's (counted there): never taken. */
const noSteps = { takeChanged: () => new Set<string>() } as unknown as DeploymentSteps;

/** A lead another process holds until the test says it is free. */
class FakeLead implements Leadership {
  held = false;
  free = false;
  tries = 0;
  private readonly lost = new Set<(why: string) => void>();

  tryAcquire(): Promise<boolean> {
    this.tries++;
    if (this.free) this.held = true;
    return Promise.resolve(this.held);
  }
  onLost(fn: (why: string) => void): () => void {
    this.lost.add(fn);
    return () => this.lost.delete(fn);
  }
  release(): Promise<void> {
    this.held = false;
    return Promise.resolve();
  }
  lose(): void {
    this.held = false;
    this.free = false;
    for (const fn of this.lost) fn('the connection ended');
  }
}

async function until(what: string, probe: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Counts the steps an orchestrator starts over three running deployments. */
function orchestratorOver(lead: FakeLead, onStep: (n: number) => void = () => {}) {
  const logs: string[] = [];
  let steps = 0;
  const store = {
    deployments: { runningIds: () => Promise.resolve(['d1', 'd2', 'd3']) },
  } as unknown as Store;
  const uow = {
    run: () => {
      steps++;
      onStep(steps);
      return Promise.resolve();
    },
  } as unknown as UnitOfWork;
  const o = new Orchestrator({
    store,
    uow,
    steps: noSteps,
    leadership: lead,
    tickMs: 5,
    leadRetryMs: 5,
    log: (m) => logs.push(m),
  });
  return { o, logs, steps: () => steps };
}

describe('the orchestrator among replicas', () => {
  let stop: (() => Promise<void>) | null = null;
  afterEach(async () => {
    await stop?.();
    stop = null;
  });

  it('stands by, saying so once, while another server leads, then leads when it can', async () => {
    const lead = new FakeLead();
    const { o, logs, steps } = orchestratorOver(lead);
    stop = () => o.stop();
    o.start();
    await until('several tries', () => lead.tries >= 5);
    o.kick();
    await o.pass();
    expect(steps()).toBe(0);
    expect(o.isLeading).toBe(false);
    expect(logs).toEqual(['orchestrator: another server leads; standing by']);

    lead.free = true;
    await until('steps', () => steps() >= 3);
    expect(o.isLeading).toBe(true);
    expect(logs.at(-1)).toBe('orchestrator: leading');
    expect(logs.filter((l) => l === 'orchestrator: leading')).toHaveLength(1);
  });

  it('starts no new step once the lead is lost, and tries to take it again', async () => {
    const lead = new FakeLead();
    lead.free = true;
    // The lead is lost during the first step of a pass over three deployments.
    const { o, logs, steps } = orchestratorOver(lead, (n) => {
      if (n === 1) lead.lose();
    });
    stop = () => o.stop();
    o.start();
    await until('the lead lost', () => logs.some((l) => l.includes('lost the lead')));
    const triesAtLoss = lead.tries;
    await until('tries to take it again', () => lead.tries >= triesAtLoss + 3);
    expect(steps()).toBe(1);
    expect(logs).toEqual([
      'orchestrator: leading',
      'orchestrator: lost the lead (the connection ended); standing by',
    ]);
    // Taken again: it works again.
    lead.free = true;
    await until('steps again', () => steps() > 1);
    expect(logs.at(-1)).toBe('orchestrator: leading');
  });

  it('gives the lead up when it stops', async () => {
    const lead = new FakeLead();
    lead.free = true;
    const { o } = orchestratorOver(lead);
    o.start();
    await until('leading', () => o.isLeading);
    await o.stop();
    expect(lead.held).toBe(false);
    expect(o.isLeading).toBe(false);
  });
});

describe('orchestrator passes', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('wait after a pass as long as it took before a kick starts the next', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'performance'] });
    const lead = new FakeLead();
    lead.free = true;
    let steps = 0;
    const store = {
      deployments: { runningIds: () => Promise.resolve(['d1', 'd2', 'd3']) },
    } as unknown as Store;
    // Each step takes 100 ms: a pass over three deployments, 300 ms.
    const uow = {
      run: () =>
        new Promise<void>((r) => {
          steps++;
          setTimeout(r, 100);
        }),
    } as unknown as UnitOfWork;
    const o = new Orchestrator({ store, uow, steps: noSteps, leadership: lead, tickMs: 60_000 });
    o.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(o.isLeading).toBe(true);
    expect(steps).toBe(1);
    // Reports keep asking for passes while it runs.
    for (let t = 0; t < 300; t += 10) {
      o.kick();
      await vi.advanceTimersByTimeAsync(10);
    }
    expect(steps).toBe(3);
    // The pass ended at 300 ms: the next starts 300 ms later, not at once.
    await vi.advanceTimersByTimeAsync(290);
    expect(steps).toBe(3);
    await vi.advanceTimersByTimeAsync(20);
    expect(steps).toBe(4);
    const stopped = o.stop();
    await vi.advanceTimersByTimeAsync(1_000);
    await stopped;
  });
});
