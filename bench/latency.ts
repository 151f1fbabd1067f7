/** Timing HTTP requests, and percentiles of the times: what the latency benchmarks share. */
import { request, type Agent } from 'node:http';

/** Milliseconds one GET of `/` on 127.0.0.1:`port` takes, to the end of its body. */
export function timedGet(port: number, agent: Agent | false): Promise<number> {
  const start = process.hrtime.bigint();
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(Number(process.hrtime.bigint() - start) / 1e6));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The `p` quantile (0 to 1) of `xs`, by the nearest rank below. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}
