import { spawn } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { acceptQueueDrained, acceptQueueLength } from './accept-queue.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

/** A listener in a process of its own, which prints its port once it listens. */
async function listener(): Promise<{ pid: number; port: number }> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      "const s=require('net').createServer(()=>{}).listen(0,'127.0.0.1',()=>console.log(s.address().port))",
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  cleanups.push(() => child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve) =>
    child.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))),
  );
  return { pid: child.pid!, port };
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
    cleanups.push(() => s.destroy());
  });
}

describe('the accept queue of a listener', () => {
  it('counts connections its process has not taken yet, and sees them taken', async () => {
    const { pid, port } = await listener();
    expect(await acceptQueueLength(port)).toBe(0);
    // Stopped, it accepts nothing: the kernel completes the handshakes and queues them.
    process.kill(pid, 'SIGSTOP');
    cleanups.unshift(() => process.kill(pid, 'SIGCONT'));
    await Promise.all([dial(port), dial(port), dial(port)]);
    expect(await acceptQueueLength(port)).toBe(3);
    process.kill(pid, 'SIGCONT');
    await acceptQueueDrained(port, { maxMs: 5_000 });
    expect(await acceptQueueLength(port)).toBe(0);
  });

  it('is null where nothing listens, and waiting on it returns at once', async () => {
    const { port } = await listener();
    cleanups.splice(0).forEach((c) => c()); // the listener's process is gone
    await new Promise((r) => setTimeout(r, 100));
    expect(await acceptQueueLength(port)).toBeNull();
    // Were it to wait, the test would time out (60 s) long before this bound.
    await acceptQueueDrained(port, { maxMs: 600_000 });
  });
});
