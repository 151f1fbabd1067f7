// The activation pipeline with fake hooks: phase order, stopping in reverse, failures.
import { describe, expect, it } from 'vitest';
import type { GoalRelease } from '../../api/index.js';
import { HostLayout } from '../host-layout.js';
import { PublicPorts } from '../public-ports.js';
import type {
  ActivationContext,
  ActivationHook,
  ActiveStatus,
  ReplacedActivation,
} from './hook.js';
import { Activation } from './pipeline.js';

type Phase = 'prepare' | 'start' | 'verify' | 'commit' | 'stop';

/** Hooks that record every call in `calls`; `on` replaces what a hook does in a phase. */
function fakeHooks(
  names: string[],
  calls: string[],
  on: Partial<Record<string, (ctx: ActivationContext) => void>> = {},
): ActivationHook[] {
  const phase = (name: string, p: Phase) => (ctx: ActivationContext) => {
    calls.push(`${p} ${name}`);
    on[`${p} ${name}`]?.(ctx);
  };
  return names.map((name) => ({
    name,
    prepare: phase(name, 'prepare'),
    start: phase(name, 'start'),
    verify: phase(name, 'verify'),
    commit: phase(name, 'commit'),
    stop: phase(name, 'stop'),
  }));
}

/** An activation of v2 whose reported status lives in `reported`. */
function activation(hooks: ActivationHook[], previous: ReplacedActivation | null = null) {
  let reported: ActiveStatus | null = null;
  const changes: ActiveStatus[] = [];
  const a = new Activation(hooks, {
    service: 'api',
    hostName: 'h1',
    release: { version: 2, config: { run: { argv: ['true'] } } } as GoalRelease,
    layout: new HostLayout('/nonexistent'),
    previous,
    publish: (status) => (reported = status),
    isCurrent: (status) => reported === status,
    changed: () => reported && changes.push({ ...reported }),
    portOf: () => null,
    publicPorts: new PublicPorts(),
    log: () => {},
  });
  return { a, reported: () => reported, changes };
}

const boom = () => {
  throw new Error('boom');
};

describe('an activation', () => {
  it('runs each phase over every hook in list order, and stops them in reverse', async () => {
    const calls: string[] = [];
    const { a } = activation(fakeHooks(['a', 'b', 'c'], calls));
    await a.run();
    expect(calls).toEqual([
      'prepare a',
      'prepare b',
      'prepare c',
      'start a',
      'start b',
      'start c',
      'verify a',
      'verify b',
      'verify c',
      'commit a',
      'commit b',
      'commit c',
    ]);
    expect(a.live).toBe(true);
    calls.length = 0;
    await a.stop();
    await a.stop();
    expect(calls).toEqual(['stop c', 'stop b', 'stop a']);
    expect(a.live).toBe(false);
  });

  it('stops only the hooks it reached when a prepare fails', async () => {
    const calls: string[] = [];
    const { a } = activation(fakeHooks(['a', 'b', 'c'], calls, { 'prepare b': boom }));
    await expect(a.run()).rejects.toThrow('boom');
    expect(calls).toEqual(['prepare a', 'prepare b', 'stop b', 'stop a']);
    expect(a.live).toBe(false);
  });

  it('stops every prepared hook, in reverse, when a start fails', async () => {
    const calls: string[] = [];
    const { a } = activation(fakeHooks(['a', 'b', 'c'], calls, { 'start b': boom }));
    await expect(a.run()).rejects.toThrow('boom');
    expect(calls.slice(3)).toEqual(['start a', 'start b', 'stop c', 'stop b', 'stop a']);
  });

  it('stops what started when a verify fails, and reports the release unhealthy', async () => {
    const calls: string[] = [];
    const { a, reported, changes } = activation(
      fakeHooks(['announce', 'run', 'check'], calls, {
        'prepare announce': (ctx) => ctx.publish(),
        'verify check': boom,
      }),
    );
    await expect(a.run()).rejects.toThrow('boom');
    expect(calls.slice(6)).toEqual([
      'verify announce',
      'verify run',
      'verify check',
      'stop check',
      'stop run',
      'stop announce',
    ]);
    expect(reported()).toMatchObject({ version: 2, state: 'unhealthy', detail: 'check: boom' });
    expect(changes.map((s) => s.state)).toEqual(['unhealthy']);
    // Stopping it later does not stop its hooks a second time.
    calls.length = 0;
    await a.stop();
    expect(calls).toEqual([]);
  });

  it('keeps an unhealthy release running and goes no further', async () => {
    const calls: string[] = [];
    const { a } = activation(
      fakeHooks(['health', 'after'], calls, {
        'verify health': (ctx) => (ctx.status.state = 'unhealthy'),
      }),
    );
    await a.run();
    expect(calls.slice(4)).toEqual(['verify health']);
    expect(a.live).toBe(true);
  });

  it('runs no later verify or commit once it is not wanted', async () => {
    const calls: string[] = [];
    const hooks = fakeHooks(['health', 'after'], calls, { 'verify health': () => a.abort() });
    const { a } = activation(hooks);
    await a.run();
    expect(calls.slice(4)).toEqual(['verify health']);
    expect(a.live).toBe(true);
  });

  it('stops the activation it replaced once: by a hook, or else with itself', async () => {
    const stops: string[] = [];
    const previous = (name: string): ReplacedActivation => ({
      version: 1,
      port: null,
      live: true,
      stop: () => {
        stops.push(name);
        return Promise.resolve();
      },
    });
    const calls: string[] = [];
    const byHook = activation(
      fakeHooks(['switch'], calls, { 'prepare switch': (ctx) => void ctx.previous?.stop() }),
      previous('v1'),
    ).a;
    await byHook.run();
    expect(stops).toEqual(['v1']);
    await byHook.stop();
    expect(stops).toEqual(['v1']);

    const { a } = activation(fakeHooks(['a'], calls), previous('v1 again'));
    await a.run();
    expect(stops).toEqual(['v1']);
    await a.stop();
    expect(stops).toEqual(['v1', 'v1 again']);
  });
});
