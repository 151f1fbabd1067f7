import { describe, expect, it } from 'vitest';
import { Output, formatBytes, table, type Streams } from './output.js';

function collect(): Streams & { text: { stdout: string; stderr: string } } {
  const text = { stdout: '', stderr: '' };
  return {
    text,
    stdout: { write: (s: string) => (text.stdout += s) },
    stderr: { write: (s: string) => (text.stderr += s) },
  };
}

describe('table', () => {
  it('aligns every column but the last, and prints missing cells as -', () => {
    expect(
      table(
        ['HOST', 'RELEASE', 'STATE'],
        [
          ['nyc-1', 'v2', 'healthy'],
          ['ldn-10', null, undefined],
          ['m', 12, 'failed: health check'],
        ],
      ),
    ).toBe(
      [
        'HOST    RELEASE  STATE',
        'nyc-1   v2       healthy',
        'ldn-10  -        -',
        'm       12       failed: health check',
      ].join('\n'),
    );
  });

  it('prints the header alone when there are no rows', () => {
    expect(table(['ID', 'SERVICE'], [])).toBe('ID  SERVICE');
  });
});

describe('Output', () => {
  const value = { id: 'd1', hosts: [{ name: 'nyc-1' }] };

  it('with --json, prints the value as JSON on stdout and no progress', () => {
    const s = collect();
    const out = new Output(s);
    out.progressUnless(true)('fetching');
    out.result(value, true, () => 'human');
    expect(JSON.parse(s.text.stdout)).toEqual(value);
    expect(s.text.stderr).toBe('');
  });

  it('without --json, prints the human form on stdout and progress on stderr', () => {
    const s = collect();
    const out = new Output(s);
    out.progressUnless(undefined)('fetching');
    out.result(value, undefined, (v) => `deployment ${v.id}: ${v.hosts.length} host(s)`);
    expect(s.text.stdout).toBe('deployment d1: 1 host(s)\n');
    expect(s.text.stderr).toBe('fetching\n');
  });

  it('prints errors on stderr with their details, one per line', () => {
    const s = collect();
    new Output(s).error('slipway.yaml has 2 problem(s)', ['a.yaml:1: x', 'a.yaml:2: y']);
    expect(s.text.stderr).toBe('error: slipway.yaml has 2 problem(s)\na.yaml:1: x\na.yaml:2: y\n');
    expect(s.text.stdout).toBe('');
  });
});

describe('formatBytes', () => {
  it('uses binary units with one decimal below 10', () => {
    expect(formatBytes(1000)).toBe('1000 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(20 * 1024 * 1024)).toBe('20 MiB');
  });
});
