import { describe, expect, it } from 'vitest';
import type { AgentJobReport } from '../../api/index.js';
import { BLANK_RUN, RunReporter, type RunState } from './run-reporter.js';

const state = (s: RunState['state'], exitCode: number | null = null): RunState => ({
  ...BLANK_RUN,
  state: s,
  exitCode,
});

describe('a run’s reports', () => {
  it('keeps output while the server is away, sends it in order, and the end only after it', async () => {
    const got: AgentJobReport[] = [];
    let down = 2;
    const send = (body: AgentJobReport) => {
      if (down-- > 0) return Promise.reject(new Error('server away'));
      got.push(body);
      return Promise.resolve();
    };
    const r = new RunReporter(send, new AbortController().signal, () => {}, state('running'));
    for (let i = 0; i < 2_500; i++) r.line('stdout', `line ${i}`);
    await r.finish(state('succeeded', 0));
    const lines = got.flatMap((b) => b.lines.map((l) => l.text));
    expect(lines).toEqual(Array.from({ length: 2_500 }, (_, i) => `line ${i}`));
    // More lines than one message carries: the earlier messages say running, the last the end.
    expect(got.length).toBeGreaterThan(1);
    expect(got.slice(0, -1).every((b) => b.state === 'running')).toBe(true);
    expect(got.at(-1)).toMatchObject({ state: 'succeeded', exitCode: 0 });
  });

  it('stops trying when the agent stops', async () => {
    const stop = new AbortController();
    const r = new RunReporter(
      () => Promise.reject(new Error('server away')),
      stop.signal,
      () => {},
      state('running'),
    );
    setTimeout(() => stop.abort(), 200);
    await r.finish(state('failed', 1));
  });
});
