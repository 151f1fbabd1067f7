/**
 * The CLI's verbs against a real server, run in this process with their output collected: what
 * a user reads on stdout and stderr, and what a script reads with --json.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type ProcessCommands } from '../src/cli/index.js';
import { ObjectStore } from '../src/image/index.js';
import { bootstrapTokens, buildServer, type SlipwayServer } from '../src/server/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { EXAMPLES } from './helpers/cluster.js';
import { TEST_SERVER_KEY } from './helpers/server-key.js';

const noProcesses: ProcessCommands = {
  server: () => Promise.reject(new Error('no server process in this test')),
  agent: () => Promise.reject(new Error('no agent process in this test')),
};

describe('slipway verbs', () => {
  let dir: string;
  let store: Store;
  let server: SlipwayServer;
  let globals: string[];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'slipway-cli-'));
    store = await openStore({ engine: 'pglite', dataDir: null });
    const { written } = await bootstrapTokens(store, dir);
    server = buildServer({
      serverKey: TEST_SERVER_KEY,
      store,
      objects: new ObjectStore(join(dir, 'origin')),
    });
    const url = await server.listen('127.0.0.1', 0);
    globals = ['--server', url, '--token', written.find((w) => w.kind === 'admin')!.token];
  });
  afterAll(async () => {
    await server.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function slipway(...args: string[]) {
    const text = { stdout: '', stderr: '' };
    const code = await runCli(['node', 'slipway', ...globals, ...args], noProcesses, {
      stdout: { write: (s: string) => (text.stdout += s) },
      stderr: { write: (s: string) => (text.stderr += s) },
    });
    return { code, ...text };
  }

  it('applies the service map and says what it holds', async () => {
    const r = await slipway('apply', '-f', join(EXAMPLES, 'slipway.yaml'));
    expect(r).toEqual({
      code: 0,
      stdout: 'applied service map v1: 2 service(s), 0 environment(s)\n',
      stderr: '',
    });
  });

  it('builds an image: its id alone on stdout, the story on stderr', async () => {
    const dirArg = join(EXAMPLES, 'scores-api');
    const r = await slipway('build', dirArg, '--service', 'scores-api', '--tag', 'first');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[0-9a-f]{64}\n$/);
    expect(r.stderr).toContain(`scanning ${dirArg}\n`);
    expect(r.stderr).toMatch(/image for scores-api: 2 files, .*; tags first\n$/);

    const again = await slipway('build', dirArg, '--service', 'scores-api', '--json');
    expect(again.stderr).toBe('');
    expect(JSON.parse(again.stdout)).toMatchObject({
      imageId: r.stdout.trim(),
      files: 2,
      uploadedChunks: 0,
    });
  });

  it('lists hosts and releases as tables, or as JSON', async () => {
    expect(await slipway('hosts')).toEqual({
      code: 0,
      stdout: 'HOST  REGION  LABELS  ONLINE  RECEIVED (ORIGIN/RELAY/PEER)  SERVICES\n',
      stderr: '',
    });
    expect(await slipway('releases', 'scores-api', '--json')).toEqual({
      code: 0,
      stdout: '[]\n',
      stderr: '',
    });
  });

  it('fails a deployment that cannot be made, saying why', async () => {
    const r = await slipway('deploy', 'scores-api', '--image', 'no-such-tag', '--wait');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^error: .*no-such-tag/);
  });
});
