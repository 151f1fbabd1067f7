// Which process an earlier agent left running a restarted agent takes over: only the one that
// runs the release to run, on the port that release asks for.
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GoalRelease } from '../api/index.js';
import type { PidRecord } from '../executor/index.js';
import { HostLayout } from './host-layout.js';
import { adoptionFor, findLeftover } from './leftover-process.js';

let dir: string;
let layout: HostLayout;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-leftover-'));
  layout = new HostLayout(dir);
  await mkdir(layout.shared('api'), { recursive: true });
  await writeFile(layout.portFile('api'), '4100');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const IMAGE = 'a'.repeat(64);
function release(port: number | 'dynamic' | null): GoalRelease {
  return { version: 2, imageId: IMAGE, config: { port } } as unknown as GoalRelease;
}
function record(about: PidRecord['about']): PidRecord {
  return { pid: 1234, startTime: '99', about };
}

describe('adoptionFor', () => {
  it('takes over the process of the release to run, on the port this host keeps', async () => {
    const rec = record({ version: 2, imageId: IMAGE, port: 4100 });
    expect(await adoptionFor(rec, release('dynamic'), layout, 'api')).toEqual({
      adopt: { pid: 1234, startTime: '99', port: 4100 },
    });
    const fixed = record({ version: 2, imageId: IMAGE, port: 8080 });
    expect(await adoptionFor(fixed, release(8080), layout, 'api')).toHaveProperty('adopt');
    const none = record({ version: 2, imageId: IMAGE, port: null });
    expect(await adoptionFor(none, release(null), layout, 'api')).toHaveProperty('adopt');
  });

  it('refuses another release, another image, another port, or an unrecorded release', async () => {
    const cases: [PidRecord, GoalRelease, string][] = [
      [record({ version: 1, imageId: IMAGE, port: 4100 }), release('dynamic'), 'it runs v1'],
      [
        record({ version: 2, imageId: 'b'.repeat(64), port: 4100 }),
        release('dynamic'),
        'it runs another image of v2',
      ],
      [
        record({ version: 2, imageId: IMAGE, port: 4200 }),
        release('dynamic'),
        'it listens on another port',
      ],
      [
        record({ version: 2, imageId: IMAGE, port: 4100 }),
        release(8080),
        'it listens on another port',
      ],
      [record({}), release('dynamic'), 'its release is not recorded'],
    ];
    for (const [rec, r, why] of cases) {
      expect(await adoptionFor(rec, r, layout, 'api')).toEqual({ refused: why });
    }
  });
});

describe('findLeftover', () => {
  it('finds nothing, and removes the record, when the recorded process is gone', async () => {
    await writeFile(
      layout.pidFile('api'),
      JSON.stringify({ pid: 2 ** 22 + 1, startTime: '1', about: {} }),
    );
    expect(await findLeftover(layout, 'api')).toBeNull();
    await expect(stat(layout.pidFile('api'))).rejects.toThrow();
  });
});
