import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../../test/helpers/until.js';
import { OUTPUT_TAIL_CHARS, readOutputTail } from './output-tail.js';
import { Supervisor, type SupervisorEvent } from './supervisor.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-tail-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('readOutputTail', () => {
  it('reads what was written after the mark, bounded, a cut line marked', async () => {
    const log = join(dir, 'out.log');
    await writeFile(log, `before the mark\n${'x'.repeat(5000)}\n\n`);
    const tail = await readOutputTail([{ path: log, offset: 16 }]);
    expect(tail).toEqual([`…${'x'.repeat(OUTPUT_TAIL_CHARS - 2)}`]);
    expect(await readOutputTail([{ path: log, offset: 5018 }])).toEqual([]);
    expect(await readOutputTail([{ path: join(dir, 'missing.log'), offset: 0 }])).toEqual([]);
  });

  it('keeps the last whole lines of both logs, in their order, within the bound', async () => {
    const out = join(dir, 'out.log');
    const err = join(dir, 'err.log');
    await writeFile(out, `${'a'.repeat(600)}\nout\n`);
    await writeFile(err, `${'b'.repeat(600)}\nerr\n`);
    const marks = [
      { path: out, offset: 0 },
      { path: err, offset: 0 },
    ];
    expect(await readOutputTail(marks)).toEqual(['out', 'b'.repeat(600), 'err']);
  });
});

describe('Supervisor exits', () => {
  it('tell each run only its own output, and the first exit is kept', async () => {
    await writeFile(join(dir, 'stdout.log'), 'an earlier release said this\n');
    const events: SupervisorEvent[] = [];
    const sup = new Supervisor({
      run: { shell: 'echo "run $$"; exit 4' },
      cwd: dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
      logDir: dir,
      pidFile: join(dir, 'pid'),
      backoff: { initialMs: 20, maxMs: 20, resetAfterMs: 60_000 },
      onEvent: (e) => events.push(e),
    });
    const heard: number[] = [];
    const stopListening = sup.onExit((exit) => heard.push(exit.code ?? -1));
    sup.start();
    await until('two exits', () => events.filter((e) => e.type === 'exited').length >= 2);
    stopListening();
    await sup.stop();
    const exits = events.flatMap((e) => (e.type === 'exited' ? [e] : []));
    const starts = events.flatMap((e) => (e.type === 'started' ? [e.pid] : []));
    expect(exits[0]).toMatchObject({ code: 4, signal: null, output: [`run ${starts[0]}`] });
    expect(exits[1]).toMatchObject({ code: 4, output: [`run ${starts[1]}`] });
    expect(sup.firstExit).toEqual({ code: 4, signal: null, output: [`run ${starts[0]}`] });
    expect(heard.slice(0, 2)).toEqual([4, 4]);
  });

  it('tell a command that cannot start with why, from its output', async () => {
    const sup = new Supervisor({
      run: { argv: [join(dir, 'missing-binary')] },
      cwd: dir,
      env: {},
      logDir: dir,
      pidFile: join(dir, 'pid'),
    });
    sup.start();
    const exit = await until('the exit', () => sup.firstExit ?? undefined);
    await sup.stop();
    expect(exit).toMatchObject({ code: null, signal: null });
    expect(exit.output).toEqual([expect.stringMatching(/^slipway: cannot start .*ENOENT/)]);
  });
});
