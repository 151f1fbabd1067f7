/**
 * Reads the metric gates of baking waves: an HTTP endpoint whose body is a number, or a PromQL
 * query against a Prometheus server's HTTP API. Reads run in the background, never inside a
 * step (a slow metrics server must not hold a deployment's row or the orchestrator): a step
 * takes the last verdict, and a finished read asks for a step. Every byte read is bounded, and a
 * gate that cannot be read does not hold (fails closed), with why.
 */
import type { Deployment, GateReading, GateSpec, GateVerdict } from '../../core/index.js';

/** How often a baking wave's gates are read. */
export const GATE_EVERY_MS = 5_000;
/** How long one read may take. */
const READ_TIMEOUT_MS = 5_000;
/** The most of an answer read. */
const MAX_ANSWER_BYTES = 256 * 1024;

interface Kept {
  wave: number;
  verdict: GateVerdict | null;
  reading: boolean;
  startedAt: number;
}

export class GateReader {
  private readonly kept = new Map<string, Kept>();

  constructor(
    /** Told when a read finished: a step can use it. */
    private readonly onRead: () => void = () => {},
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * The last verdict on `d`'s baking wave's gates (null: none yet), starting a read when one is
   * due: every {@link GATE_EVERY_MS}, and at once when the bake is over and the last read began
   * before it ended.
   */
  verdict(d: Deployment): GateVerdict | null {
    const bake = d.bake;
    const gates = bake ? (d.waves?.[bake.wave]?.gates ?? []) : [];
    if (!bake || gates.length === 0) {
      this.kept.delete(d.id);
      return null;
    }
    let k = this.kept.get(d.id);
    if (!k || k.wave !== bake.wave) {
      k = { wave: bake.wave, verdict: null, reading: false, startedAt: -Infinity };
      this.kept.set(d.id, k);
    }
    const now = this.now();
    const due =
      now - k.startedAt >= GATE_EVERY_MS || (now >= bake.until && k.startedAt < bake.until);
    if (due && !k.reading) this.read(k, gates, now);
    return k.verdict;
  }

  /** Forgets deployments no longer baking (not in `running`). */
  keepOnly(running: ReadonlySet<string>): void {
    for (const id of this.kept.keys()) if (!running.has(id)) this.kept.delete(id);
  }

  private read(k: Kept, gates: readonly GateSpec[], startedAt: number): void {
    k.reading = true;
    k.startedAt = startedAt;
    void Promise.all(gates.map((g) => readGate(g, startedAt)))
      .then((readings) => {
        k.verdict = { readings, at: startedAt };
      })
      .finally(() => {
        k.reading = false;
        this.onRead();
      });
  }
}

/** What a gate is called in readings and events. */
export function gateName(g: GateSpec): string {
  return g.kind === 'http' ? g.url : `${g.query} (prometheus ${g.url})`;
}

/** Reads one gate; never throws (a gate that cannot be read does not hold). */
export async function readGate(g: GateSpec, at: number): Promise<GateReading> {
  const gate = gateName(g);
  let value: number;
  try {
    value = g.kind === 'http' ? await readHttp(g.url) : await readPrometheus(g.url, g.query);
  } catch (e) {
    return { gate, value: null, ok: false, problem: `cannot be read: ${(e as Error).message}`, at };
  }
  const problem =
    g.max !== null && value > g.max
      ? `${value} > max ${g.max}`
      : g.min !== null && value < g.min
        ? `${value} < min ${g.min}`
        : null;
  return { gate, value, ok: problem === null, problem, at };
}

async function readHttp(url: string): Promise<number> {
  const body = (await fetchBounded(url)).trim();
  const n = Number(body);
  if (body === '' || !Number.isFinite(n))
    throw new Error(`the answer is not a number: ${JSON.stringify(body.slice(0, 60))}`);
  return n;
}

/**
 * A PromQL query's value: a scalar, or a vector of series (the highest counts, so that a bound
 * holds for every series). No series is no data: not holding.
 */
async function readPrometheus(base: string, query: string): Promise<number> {
  const url = new URL('api/v1/query', base.endsWith('/') ? base : `${base}/`);
  url.searchParams.set('query', query);
  const answer = JSON.parse(await fetchBounded(url.toString())) as {
    status?: string;
    error?: string;
    data?: { resultType?: string; result?: unknown };
  };
  if (answer.status !== 'success') throw new Error(`prometheus: ${answer.error ?? 'query failed'}`);
  const { resultType, result } = answer.data ?? {};
  const values: number[] =
    resultType === 'scalar'
      ? [Number((result as [number, string])[1])]
      : resultType === 'vector'
        ? (result as { value: [number, string] }[]).map((r) => Number(r.value[1]))
        : [];
  if (values.length === 0) throw new Error(`no data for ${query}`);
  if (values.some((v) => Number.isNaN(v))) throw new Error(`not a number (NaN) for ${query}`);
  return Math.max(...values);
}

async function fetchBounded(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(READ_TIMEOUT_MS), redirect: 'error' });
  if (!res.ok) {
    await res.body?.cancel();
    throw new Error(`HTTP ${res.status} from ${url}`);
  }
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      await reader.cancel();
      throw new Error(`the answer is over ${MAX_ANSWER_BYTES} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
