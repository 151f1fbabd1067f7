import { chmod, mkdtemp, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './program.js';
import type { AgentSettings } from '../core/index.js';
import type { ProcessCommands, ServerOptions } from './context.js';

/** Runs `slipway ...args` in this process and returns what it printed and its exit code. */
async function slipway(...args: string[]) {
  const text = { stdout: '', stderr: '' };
  const started: string[] = [];
  let agent: AgentSettings | undefined;
  let server: ServerOptions | undefined;
  // The processes themselves are main's: here they only record that they were asked for.
  const processes: ProcessCommands = {
    server: (opts) => {
      started.push('server');
      server = opts;
      return Promise.resolve();
    },
    agent: (settings) => {
      started.push('agent');
      agent = settings;
      return Promise.resolve();
    },
    migrateDatabase: (url, role) => {
      started.push(`db migrate ${url} ${role ?? '-'}`);
      return Promise.resolve({ applied: ['0007_audit'], granted: role ?? null });
    },
    stopServices: (dataDir) => {
      started.push(`stop-services ${dataDir}`);
      return Promise.resolve(dataDir.endsWith('empty') ? [] : ['scores-api']);
    },
  };
  const code = await runCli(['node', 'slipway', ...args], processes, {
    stdout: { write: (s: string) => (text.stdout += s) },
    stderr: { write: (s: string) => (text.stderr += s) },
  });
  return { code, started, agent, server, ...text };
}

/** A file only this user may read, holding `text`. */
async function secretFile(text: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'slipway-cli-')), 'join.token');
  await writeFile(path, text, { mode: 0o600 });
  return path;
}

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  await new Promise((r) => server.close(r));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('slipway', () => {
  it('--help names every verb, on stdout, and exits 0', async () => {
    const r = await slipway('--help');
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const verbs = [...r.stdout.matchAll(/^ {2}([a-z][a-z-]*) /gm)].map((m) => m[1]);
    expect(verbs).toEqual([
      'server',
      'db',
      'agent',
      'stop-services',
      'build',
      'gc',
      'apply',
      'deploy',
      'stage',
      'plan',
      'promote',
      'rollback',
      'cancel',
      'pause',
      'resume',
      'approve',
      'reject',
      'status',
      'deployments',
      'hosts',
      'releases',
      'whoami',
      'users',
      'tokens',
      'audit',
      'run',
      'jobs',
      'help',
    ]);
  });

  it('db migrate: migrates as the owner and grants the runtime role, saying so', async () => {
    const r = await slipway(
      'db',
      'migrate',
      '--database-url',
      'postgres://owner@db/slw',
      '--runtime-role',
      'slw_rt',
    );
    expect(r.code).toBe(0);
    expect(r.started).toEqual(['db migrate postgres://owner@db/slw slw_rt']);
    expect(r.stdout).toBe(
      'applied 1 migration(s): 0007_audit\ngranted slw_rt what a server needs; on audit: INSERT and SELECT only\n',
    );
  });

  it('stop-services: stops what agents left running in the data dir, and says what', async () => {
    const r = await slipway('stop-services', '--data-dir', 'some/dir');
    expect(r.code).toBe(0);
    expect(r.started).toEqual([`stop-services ${resolve('some/dir')}`]);
    expect(r.stdout).toBe('stopped scores-api\n');
    const none = await slipway('stop-services', '--data-dir', 'empty');
    expect(none.stdout).toBe('no service process was running\n');
  });

  it('server: caps connections per address and image entries, by default and as told', async () => {
    const byDefault = await slipway('server');
    expect(byDefault.server).toMatchObject({
      maxConnectionsPerAddress: 256,
      maxImageEntries: 100_000,
    });
    const told = await slipway(
      'server',
      '--max-connections-per-address',
      '0',
      '--max-image-entries',
      '500',
    );
    expect(told.server).toMatchObject({ maxConnectionsPerAddress: 0, maxImageEntries: 500 });
    const wrong = await slipway('server', '--max-image-entries', '0');
    expect(wrong.code).toBe(1);
    expect(wrong.started).toEqual([]);
    expect(wrong.stderr).toContain('must be a whole number >= 1');
  });

  it('without a verb, prints the help on stderr and exits 1', async () => {
    const r = await slipway();
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: slipway \[options\] \[command\]/);
  });

  it('says which required option is missing, with the verb’s usage, and exits 1', async () => {
    const r = await slipway('deploy', 'scores-api');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^error: required option '--image <id\|tag>' not specified\n/);
    expect(r.stderr).toContain('Usage: slipway deploy [options] <service>');
  });

  it('says what is wrong with an option’s value and exits 1, before reaching the server', async () => {
    const r = await slipway('rollback', 'scores-api', '--to', 'latest', '--token', 't');
    expect(r).toMatchObject({
      code: 1,
      stdout: '',
      stderr: 'error: --to "latest": expected a release like v3\n',
    });
  });

  it('does not start an agent whose options are wrong', async () => {
    const r = await slipway('agent', '--name', 'a', '--region', 'r', '--label', 'role');
    expect(r).toMatchObject({
      code: 1,
      started: [],
      stderr: 'error: --label "role": expected key=value\n',
    });
  });

  it('hands the agent its settings, parsed and checked', async () => {
    const tokenFile = await secretFile('j\n');
    const r = await slipway(
      '--server',
      'http://cp:7400',
      'agent',
      '--name',
      'ldn-1',
      '--region',
      'eu-west',
      '--join-token-file',
      tokenFile,
      '--label',
      'role=pricing',
      '--label',
      'tier=a=b',
      '--peer-listen',
      '127.0.0.1:0',
      '--relay',
      '--max-bandwidth',
      '8mbit',
    );
    expect(r).toMatchObject({ code: 0, started: ['agent'], stdout: '', stderr: '' });
    expect(r.agent).toEqual({
      server: 'http://cp:7400',
      joinToken: 'j',
      name: 'ldn-1',
      region: 'eu-west',
      labels: { role: 'pricing', tier: 'a=b' },
      dataDir: resolve('.slipway/agent'),
      peerListen: { host: '127.0.0.1', port: 0 },
      peerUrl: undefined,
      relay: true,
      maxBandwidth: 1_000_000,
    } satisfies AgentSettings);
  });

  it('hands the server the networks agents may advertise peer URLs in, checked', async () => {
    const r = await slipway('server', '--peer-networks', '10.0.0.0/8, fd00::/8');
    expect(r).toMatchObject({ code: 0, started: ['server'] });
    expect(r.server?.peerNetworks.map((n) => n.text)).toEqual(['10.0.0.0/8', 'fd00::/8']);
    const bad = await slipway('server', '--peer-networks', '10.0.0.0');
    expect(bad).toMatchObject({ code: 1, started: [] });
    expect(bad.stderr).toContain('--peer-networks "10.0.0.0": expected an address and prefix');
  });

  describe('the join token', () => {
    const agent = (...args: string[]) =>
      slipway('agent', '--name', 'ldn-1', '--region', 'eu-west', ...args);

    it('comes from --join-token-file, so that ps does not show it', async () => {
      const r = await agent('--join-token-file', await secretFile('  tok-123\n'));
      expect(r).toMatchObject({ code: 0, started: ['agent'], stderr: '' });
      expect(r.agent?.joinToken).toBe('tok-123');
    });

    it('comes from SLIPWAY_JOIN_TOKEN', async () => {
      process.env.SLIPWAY_JOIN_TOKEN = 'from-env';
      try {
        const r = await agent();
        expect(r).toMatchObject({ code: 0, started: ['agent'], stderr: '' });
        expect(r.agent?.joinToken).toBe('from-env');
      } finally {
        delete process.env.SLIPWAY_JOIN_TOKEN;
      }
    });

    it('still comes from --join-token, with a warning that every local user sees it', async () => {
      const r = await agent('--join-token', 'on-the-command-line');
      expect(r).toMatchObject({ code: 0, started: ['agent'] });
      expect(r.agent?.joinToken).toBe('on-the-command-line');
      expect(r.stderr).toContain('warning: --join-token puts the join token on the command line');
      expect(r.stderr).toContain('--join-token-file');
    });

    it('is not needed once the host has a credential', async () => {
      const r = await agent();
      expect(r).toMatchObject({ code: 0, started: ['agent'], stderr: '' });
      expect(r.agent?.joinToken).toBeUndefined();
    });

    it('from a missing or empty file is refused, saying which file', async () => {
      const missing = join(await mkdtemp(join(tmpdir(), 'slipway-cli-')), 'nope');
      const r1 = await agent('--join-token-file', missing);
      expect(r1).toMatchObject({ code: 1, started: [] });
      expect(r1.stderr).toContain(`error: --join-token-file ${missing}: cannot read it`);
      const empty = await secretFile('\n');
      const r2 = await agent('--join-token-file', empty);
      expect(r2).toMatchObject({ code: 1, started: [] });
      expect(r2.stderr).toContain(`error: --join-token-file ${empty} is empty`);
    });

    it('in a file other users may read comes with a warning', async () => {
      const file = await secretFile('tok\n');
      await chmod(file, 0o644);
      const r = await agent('--join-token-file', file);
      expect(r).toMatchObject({ code: 0, started: ['agent'] });
      expect(r.stderr).toContain(`warning: --join-token-file ${file} is readable by other users`);
    });

    it('is refused from both --join-token and --join-token-file', async () => {
      const r = await agent('--join-token', 'a', '--join-token-file', await secretFile('b'));
      expect(r).toMatchObject({ code: 1, started: [] });
      expect(r.stderr).toContain('--join-token and --join-token-file both given');
    });
  });

  it('exits 3 when the server cannot be reached', async () => {
    const server = `http://127.0.0.1:${await closedPort()}`;
    const r = await slipway('hosts', '--server', server, '--token', 't');
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`error: cannot reach the Slipway server at ${server}`);
  });
});
