import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensurePrivateDir, writePrivateFile } from './private-files.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-private-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const modeOf = async (p: string) => (await stat(p)).mode & 0o7777;

describe('writePrivateFile', () => {
  it('writes a new file with mode 0600 and no temporary file left', async () => {
    await writePrivateFile(join(dir, 'goal.json'), '{"env":{"SECRET":"x"}}');
    expect(await modeOf(join(dir, 'goal.json'))).toBe(0o600);
    expect(await readFile(join(dir, 'goal.json'), 'utf8')).toBe('{"env":{"SECRET":"x"}}');
    expect(await readdir(dir)).toEqual(['goal.json']);
  });

  it('replaces a file an earlier version left readable by others', async () => {
    const path = join(dir, 'goal.json');
    await writeFile(path, 'old', { mode: 0o644 });
    await writePrivateFile(path, 'new');
    expect(await modeOf(path)).toBe(0o600);
    expect(await readFile(path, 'utf8')).toBe('new');
  });
});

describe('ensurePrivateDir', () => {
  it('creates the dir with mode 0700', async () => {
    const warned: string[] = [];
    await ensurePrivateDir(join(dir, 'a', 'agent'), (m) => warned.push(m));
    expect(await modeOf(join(dir, 'a', 'agent'))).toBe(0o700);
    expect(warned).toEqual([]);
  });

  it('narrows a dir open to others and says so', async () => {
    const data = join(dir, 'agent');
    await mkdir(data, { mode: 0o755 });
    const warned: string[] = [];
    await ensurePrivateDir(data, (m) => warned.push(m));
    expect(await modeOf(data)).toBe(0o700);
    expect(warned).toEqual([expect.stringContaining(`${data} was open to others (mode 0755)`)]);
  });
});
