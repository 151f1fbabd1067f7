import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadServerKey } from './server-key.js';

describe('the server key file', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-key-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('is made once, private, and read back the same', async () => {
    const first = await loadServerKey(dir);
    expect(first.created).toBe(true);
    expect(first.key.length).toBe(32);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
    const again = await loadServerKey(dir);
    expect(again.created).toBe(false);
    expect(again.key.equals(first.key)).toBe(true);
    expect((await readFile(first.path)).equals(first.key)).toBe(true);
  });

  it('is refused when others may read it or it is not 32 bytes', async () => {
    const { path } = await loadServerKey(dir);
    await chmod(path, 0o644);
    await expect(loadServerKey(dir)).rejects.toThrow(/chmod 600/);
    await writeFile(path, Buffer.alloc(16), { mode: 0o600 });
    await chmod(path, 0o600);
    await expect(loadServerKey(dir)).rejects.toThrow(/holds 16 bytes, not 32/);
  });
});
