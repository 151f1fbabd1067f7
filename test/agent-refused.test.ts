/**
 * An agent the server refuses (its credential revoked, or replaced by another host enrolling
 * under its name) and the files it keeps: it asks again with backoff, says once what is wrong
 * and what to do, and keeps its credential and goal to itself.
 */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent, type AgentOptions } from '../src/agent/index.js';
import { SlipwayClient } from '../src/api/index.js';
import type { Store } from '../src/store/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';
import { until } from './helpers/until.js';

/** Forwards to the server and counts what it forwards, with each answer's status. */
async function countingProxy(
  target: string,
): Promise<{ url: string; seen: number[]; close: () => Promise<void> }> {
  const to = new URL(target);
  const seen: number[] = [];
  const server: Server = createServer((req, res) => {
    const out = request(
      { host: to.hostname, port: to.port, path: req.url, method: req.method, headers: req.headers },
      (answer) => {
        seen.push(answer.statusCode ?? 0);
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    res.on('close', () => out.destroy());
    req.pipe(out);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

let s: InProcessServer;
let dir: string;
let store: Store;
let url: string;
let joinToken: string;
/** Agents talk to the server through it. */
let proxy: Awaited<ReturnType<typeof countingProxy>>;
const agents: Agent[] = [];

beforeEach(async () => {
  s = await startInProcessServer({ tickMs: 200 });
  ({ dir, store, url, joinToken } = s);
  proxy = await countingProxy(url);
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map((a) => a.stop()));
  await proxy.close();
  await s.stop();
});

function startAgent(opts: Partial<AgentOptions> & { lines: string[] }): Agent {
  const agent = new Agent({
    server: proxy.url,
    joinToken,
    name: 'web-1',
    region: 'r1',
    labels: {},
    dataDir: join(dir, 'agent'),
    peerListen: null,
    relay: false,
    maxBandwidth: null,
    reportEveryMs: 100,
    log: (m) => opts.lines.push(m),
    ...opts,
  });
  agents.push(agent);
  void agent.start();
  return agent;
}

/** Enrolls web-1 once, stops that agent and revokes its credential; returns its data dir. */
async function enrolledThenRevoked(): Promise<string> {
  const lines: string[] = [];
  const first = startAgent({ lines });
  await until('the agent to enroll and get a goal', () =>
    stat(join(dir, 'agent', 'goal.json')).then(() => first.hostId),
  );
  const saved = await readFile(join(dir, 'agent', 'agent.json'), 'utf8');
  const token = JSON.parse(saved) as { token: string };
  await first.stop();
  agents.splice(agents.indexOf(first), 1);
  await store.tokens.revokeOfHost(first.hostId!);
  // The revocation is announced, and the server drops the token from its cache.
  const client = new SlipwayClient({ server: url, token: token.token });
  await until('the server to refuse the revoked credential', () =>
    client.agentReport({ services: [] }).then(
      () => false,
      (e: Error) => /revoked/.test(e.message),
    ),
  );
  return join(dir, 'agent');
}

describe('an agent whose credential the server refuses', () => {
  it('asks again with backoff, not at once, and says once what to do (join token refused too)', async () => {
    await enrolledThenRevoked();
    const lines: string[] = [];
    // A join token that no longer works: enrolling again fails as well.
    startAgent({ lines, joinToken: 'rotated-join-token' });
    await until('the first refusal', () => proxy.seen.includes(401));
    const before = proxy.seen.length;
    await new Promise((r) => setTimeout(r, 3_000)); // a window to count requests in, not a wait
    // An agent retrying at once sent hundreds in this window.
    expect(proxy.seen.length - before).toBeLessThan(20);
    const refused = lines.filter((l) => l.includes('cannot enroll as web-1'));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('the join token is wrong or was replaced');
  });

  it('without a join token, says once that the credential was revoked or replaced and what to do', async () => {
    const dataDir = await enrolledThenRevoked();
    const lines: string[] = [];
    startAgent({ lines, joinToken: undefined });
    await until('the refusal to be logged', () => lines.some((l) => l.includes('(401)')));
    const before = proxy.seen.length;
    await new Promise((r) => setTimeout(r, 3_000)); // a window to count requests in, not a wait
    expect(proxy.seen.length - before).toBeLessThan(20);
    const refused = lines.filter((l) => l.includes('refused this host’s credential'));
    expect(refused).toHaveLength(1);
    expect(refused[0]).toContain('another host enrolled under the name web-1');
    expect(refused[0]).toContain(`remove ${join(dataDir, 'agent.json')}`);
  });
});

describe('the files of an agent', () => {
  it('are its own: the data dir 0700, credential and goal 0600, also when an earlier version left them open', async () => {
    const data = join(dir, 'agent');
    await mkdir(data, { recursive: true });
    await chmod(data, 0o755);
    await writeFile(join(data, 'goal.json'), '{}', { mode: 0o644 }); // left by an earlier version
    const lines: string[] = [];
    const agent = startAgent({ lines });
    await until('the agent to enroll and save a goal', async () => {
      const goal = await stat(join(data, 'goal.json'));
      return agent.hostId !== undefined && (goal.mode & 0o777) === 0o600;
    });
    expect((await stat(data)).mode & 0o777).toBe(0o700);
    expect((await stat(join(data, 'agent.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(data, 'goal.json'))).mode & 0o777).toBe(0o600);
    expect(lines.some((l) => l.includes('was open to others (mode 0755)'))).toBe(true);
  });
});
