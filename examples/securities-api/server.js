// securities-api: the public market-data API. Lists securities with their latest score, which it
// asks the scores-api on the same host for (Slipway passes its port as SCORES_API_PORT).
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';

const release = JSON.parse(readFileSync(new URL('./release.json', import.meta.url), 'utf8'));
const port = Number(process.env.PORT ?? 8080);
const scoresPort = process.env.SCORES_API_PORT;

function send(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function scores() {
  if (!scoresPort) return { scores: {}, error: 'scores-api is not running on this host' };
  try {
    const r = await fetch(`http://127.0.0.1:${scoresPort}/scores`, {
      signal: AbortSignal.timeout(1000),
    });
    return await r.json();
  } catch (e) {
    return { scores: {}, error: `scores-api unreachable: ${e.message}` };
  }
}

createServer((req, res) => {
  if (req.url === '/healthz') return send(res, 200, { ok: true, version: release.version });
  if (req.url === '/securities') {
    scores().then((s) =>
      send(res, 200, {
        version: release.version,
        currency: release.currency,
        scoresModel: s.model ?? null,
        securities: Object.entries(s.scores ?? {}).map(([symbol, score]) => ({ symbol, score })),
        ...(s.error ? { warning: s.error } : {}),
      }),
    );
    return;
  }
  send(res, 404, { error: 'not found' });
}).listen(port, '127.0.0.1');
