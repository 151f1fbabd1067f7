import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from './free-port.js';

describe('freePort', () => {
  it('picks a port that can be listened on, below the range outgoing connections use', async () => {
    const low = Number(
      (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).split(/\s+/)[0],
    );
    for (let i = 0; i < 5; i++) {
      const port = await freePort();
      expect(port).toBeLessThan(low);
      expect(port).toBeGreaterThanOrEqual(1024);
      await new Promise<void>((resolve, reject) => {
        const srv = createServer();
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
      });
    }
  });
});
