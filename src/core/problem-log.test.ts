import { describe, expect, it } from 'vitest';
import { ProblemLog } from './problem-log.js';

describe('ProblemLog', () => {
  it('logs a problem met again and again once, and again when it changes or after recovering', () => {
    const lines: string[] = [];
    const p = new ProblemLog((m) => lines.push(m));
    for (let i = 0; i < 100; i++) p.problem('refused');
    p.problem('unreachable');
    p.problem('unreachable');
    p.recovered('back');
    p.recovered('back'); // nothing was failing: nothing to say
    p.problem('unreachable');
    expect(lines).toEqual(['refused', 'unreachable', 'back', 'unreachable']);
  });

  it('compares by key when the message carries details that vary', () => {
    const lines: string[] = [];
    const p = new ProblemLog((m) => lines.push(m));
    expect(p.problem('timeout after 1001 ms', 'timeout')).toBe(true);
    expect(p.problem('timeout after 1002 ms', 'timeout')).toBe(false);
    expect(p.failing).toBe(true);
    expect(lines).toEqual(['timeout after 1001 ms']);
  });
});
