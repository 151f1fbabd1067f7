// scores-api: an internal market-data service. Serves a score per security, computed by the
// model named in release.json. A release whose model cannot be loaded reports itself unhealthy.
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const release = JSON.parse(readFileSync(new URL('./release.json', import.meta.url), 'utf8'));
const port = Number(process.env.PORT ?? 8081);

const MODELS = {
  // Mean reversion: securities far from their average price score higher.
  'mean-reversion': (s) => Math.round((100 * Math.abs(s.avg - s.last)) / s.avg) / 100,
  // Momentum: securities above their average score higher.
  momentum: (s) => Math.round((100 * (s.last - s.avg)) / s.avg) / 100,
};
const model = MODELS[release.model];

const SECURITIES = [
  { symbol: 'ACME', last: 101.2, avg: 98.4 },
  { symbol: 'GLOBX', last: 54.1, avg: 57.9 },
  { symbol: 'INITECH', last: 12.75, avg: 12.7 },
  { symbol: 'UMBRL', last: 240.0, avg: 221.3 },
];

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const server = createServer((req, res) => {
  if (req.url === '/healthz') {
    if (!model)
      return send(res, 503, { ok: false, error: `model ${release.model} cannot be loaded` });
    return send(res, 200, { ok: true, version: release.version });
  }
  if (req.url === '/scores') {
    if (!model) return send(res, 500, { error: 'no model' });
    const scores = Object.fromEntries(SECURITIES.map((s) => [s.symbol, model(s)]));
    return send(res, 200, { model: release.model, version: release.version, scores });
  }
  send(res, 404, { error: 'not found' });
});
// Loading a real model takes a while; release.json can say how long (warmupMs).
setTimeout(() => server.listen(port, '127.0.0.1'), Number(release.warmupMs ?? 0));
// Stopped (a new release took over): finish the requests under way, then exit.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  server.closeIdleConnections?.();
  setTimeout(() => process.exit(0), 5_000).unref();
});
