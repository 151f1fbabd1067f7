/**
 * The typed client of the REST API, used by the CLI, the agent and the dashboard.
 * Browser-safe: only the global fetch.
 */
import type { z } from 'zod';
import { SlipwayError, type ErrorCode } from '../core/index.js';
import { HOSTS_PAGE_MAX, routes, type RouteDef, type RouteName } from './routes.js';
import * as s from './schemas.js';

export interface ClientOptions {
  /** Base URL of the server, e.g. http://127.0.0.1:7400 */
  server: string;
  token?: string;
  /** Default timeout of one request in ms (long polls pass their own). */
  timeoutMs?: number;
  /**
   * How requests go out: the global `fetch` by default. Thousands of simulated agents in one
   * process give each group of them its own connection pool through this.
   */
  fetch?: typeof fetch;
}

interface CallOptions {
  params?: Record<string, string>;
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  raw?: Uint8Array;
  signal?: AbortSignal;
  timeoutMs?: number;
}

const ERROR_CODES: readonly ErrorCode[] = [
  'NOT_FOUND',
  'CONFLICT',
  'INVALID',
  'FORBIDDEN',
  'UNAUTHENTICATED',
  'POLICY',
  'EXEC_FAILED',
  'UNAVAILABLE',
  'RATE_LIMITED',
  'INTERNAL',
];

/** A client of one Slipway server with one token. */
export class SlipwayClient {
  readonly server: string;
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetch: typeof fetch;

  constructor(opts: ClientOptions) {
    this.server = opts.server.replace(/\/+$/, '');
    this.token = opts.token;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.fetch = opts.fetch ?? fetch;
  }

  /** A client of the same server with another token. */
  withToken(token: string): SlipwayClient {
    return new SlipwayClient({
      server: this.server,
      token,
      timeoutMs: this.timeoutMs,
      fetch: this.fetch,
    });
  }

  health() {
    return this.json('health', {});
  }
  enroll(body: z.input<typeof s.enrollRequest>) {
    return this.json('enroll', { body });
  }
  agentGoal(after: number, waitMs: number, signal?: AbortSignal) {
    return this.json('agentGoal', {
      query: { after, waitMs },
      signal,
      timeoutMs: waitMs + 15_000,
    });
  }
  agentReport(body: z.input<typeof s.agentReport>) {
    return this.json('agentReport', { body });
  }
  /** One page of hosts by name, after the name `after` (see HOSTS_PAGE_MAX). */
  listHostsPage(query: { after?: string; limit?: number; region?: string } = {}) {
    return this.json('listHosts', { query });
  }
  /** Every host (of one region), by name, read a page at a time. */
  listHosts(query: { region?: string } = {}): Promise<s.Host[]> {
    return allPages(async (after) => {
      const page = await this.listHostsPage({ ...query, after, limit: HOSTS_PAGE_MAX });
      return { items: page.hosts, next: page.next };
    });
  }
  removeHost(name: string) {
    return this.json('removeHost', { params: { name } });
  }
  setHostRelay(name: string, relay: boolean) {
    return this.json('setHostRelay', { params: { name }, body: { relay } });
  }
  getServiceMap() {
    return this.json('getServiceMap', {});
  }
  applyServiceMap(document: unknown) {
    return this.json('applyServiceMap', { body: document });
  }
  /** Deletes origin chunks no image references; `graceSeconds` defaults to the server's. */
  collectGarbage(graceSeconds?: number) {
    return this.json('collectGarbage', { body: { graceSeconds } });
  }
  missingChunks(digests: string[]) {
    return this.json('missingChunks', { body: { digests } });
  }
  putChunk(digest: string, data: Uint8Array) {
    return this.json('putChunk', { params: { digest }, raw: data });
  }
  async getChunk(digest: string, signal?: AbortSignal): Promise<Uint8Array> {
    const res = await this.send('getChunk', { params: { digest }, signal });
    return new Uint8Array(await res.arrayBuffer());
  }
  createImage(body: z.input<typeof s.createImageRequest>) {
    return this.json('createImage', { body });
  }
  listImages(service?: string, limit?: number) {
    return this.json('listImages', { query: { service, limit } });
  }
  getImage(id: string) {
    return this.json('getImage', { params: { id } });
  }
  async getManifest(id: string): Promise<unknown> {
    const res = await this.send('getManifest', { params: { id } });
    return res.json();
  }
  tagImage(id: string, tag: string) {
    return this.json('tagImage', { params: { id }, body: { tag } });
  }
  whoami() {
    return this.json('whoami', {});
  }
  listUsers() {
    return this.json('listUsers', {});
  }
  createUser(body: z.input<typeof s.createUserRequest>) {
    return this.json('createUser', { body });
  }
  removeUser(name: string) {
    return this.json('removeUser', { params: { name } });
  }
  listTokens() {
    return this.json('listTokens', {});
  }
  createToken(body: z.input<typeof s.createTokenRequest>) {
    return this.json('createToken', { body });
  }
  revokeToken(id: string) {
    return this.json('revokeToken', { params: { id } });
  }
  /** One page of the audit trail, oldest first, after entry `after`. */
  listAudit(
    query: {
      after?: number;
      since?: string;
      user?: string;
      environment?: string;
      limit?: number;
    } = {},
  ) {
    return this.json('listAudit', { query });
  }
  verifyAudit() {
    return this.json('verifyAudit', {});
  }
  createJob(body: z.input<typeof s.createJobRequest>) {
    return this.json('createJob', { body });
  }
  listJobs(limit?: number) {
    return this.json('listJobs', { query: { limit } });
  }
  /** `id` here and below may also be a unique prefix of a job's id. */
  getJob(id: string) {
    return this.json('getJob', { params: { id } });
  }
  /** Output lines past `after`; with `waitMs`, waits for more (or the job's end). */
  jobOutput(
    id: string,
    query: { after?: number; waitMs?: number; host?: string; limit?: number },
    signal?: AbortSignal,
  ) {
    return this.json('jobOutput', {
      params: { id },
      query,
      signal,
      timeoutMs: (query.waitMs ?? 0) + 15_000,
    });
  }
  cancelJob(id: string) {
    return this.json('cancelJob', { params: { id } });
  }
  agentJobReport(id: string, body: z.input<typeof s.agentJobReport>) {
    return this.json('agentJobReport', { params: { id }, body });
  }
  listReleases(service: string) {
    return this.json('listReleases', { params: { service } });
  }
  createDeployment(body: s.CreateDeploymentRequest) {
    return this.json('createDeployment', { body });
  }
  /** Newest first; `id` of the other calls may also be a unique prefix of a deployment's id. */
  listDeployments(filter: { service?: string; environment?: string } = {}, limit?: number) {
    return this.json('listDeployments', {
      query: { service: filter.service, environment: filter.environment, limit },
    });
  }
  getDeployment(id: string) {
    return this.json('getDeployment', { params: { id } });
  }
  /** What `createDeployment(body)` would do, and what would refuse it; nothing moves. */
  planDeployment(body: s.CreateDeploymentRequest) {
    return this.json('planDeployment', { body });
  }
  pauseDeployment(id: string) {
    return this.json('pauseDeployment', { params: { id } });
  }
  resumeDeployment(id: string) {
    return this.json('resumeDeployment', { params: { id } });
  }
  approveDeployment(id: string) {
    return this.json('approveDeployment', { params: { id } });
  }
  rejectDeployment(id: string, reason: string) {
    return this.json('rejectDeployment', { params: { id }, body: { reason } });
  }
  cancelDeployment(id: string) {
    return this.json('cancelDeployment', { params: { id } });
  }
  /** What runs where (of one service, of one region), read a page of hosts at a time. */
  status(query: { service?: string; region?: string } = {}): Promise<s.StatusRow[]> {
    return allPages(async (after) => {
      const page = await this.json('status', { query: { ...query, after, limit: HOSTS_PAGE_MAX } });
      return { items: page.rows, next: page.next };
    });
  }

  /**
   * Follows a server-sent event stream (one deployment's, or everything's) until the signal
   * aborts or the server ends it. Each event is validated before it is handed over.
   */
  async streamEvents(
    deploymentId: string | null,
    onEvent: (e: s.SlipwayEvent) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const res = deploymentId
      ? await this.send('deploymentEvents', { params: { id: deploymentId }, signal, timeoutMs: 0 })
      : await this.send('events', { signal, timeoutMs: 0 });
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    // Cancel the reader ourselves: Node 20's fetch can leave a pending read hanging forever when
    // its signal aborts after the last chunk has arrived.
    const cancel = () => void reader.cancel().catch(() => {});
    signal.addEventListener('abort', cancel, { once: true });
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let sep: number;
        while ((sep = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, sep);
          buffer = buffer.slice(sep + 2);
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trimStart())
            .join('\n');
          if (data) onEvent(s.event.parse(JSON.parse(data)));
        }
      }
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    } finally {
      signal.removeEventListener('abort', cancel);
      reader.releaseLock();
    }
  }

  private async json<N extends RouteName>(
    name: N,
    opts: CallOptions,
  ): Promise<(typeof routes)[N] extends { response: z.ZodType<infer T> } ? T : unknown> {
    const res = await this.send(name, opts);
    const body: unknown = await res.json();
    const route = routes[name];
    if ('response' in route && route.response) {
      const parsed = route.response.safeParse(body);
      if (!parsed.success) {
        throw new SlipwayError('INTERNAL', `unexpected response from ${route.path}`, {
          issues: parsed.error.issues,
        });
      }
      return parsed.data as never;
    }
    return body as never;
  }

  private async send(name: RouteName, opts: CallOptions): Promise<Response> {
    const route = routes[name];
    let path: string = route.path;
    for (const [k, v] of Object.entries(opts.params ?? {})) {
      path = path.replace(`:${k}`, encodeURIComponent(v));
    }
    const query = new URLSearchParams();
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined) query.set(k, String(v));
    }
    const url = `${this.server}${path}${query.size > 0 ? `?${query.toString()}` : ''}`;
    const headers: Record<string, string> = {};
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    let body: string | Uint8Array | undefined;
    if (opts.raw) {
      headers['content-type'] = 'application/octet-stream';
      body = opts.raw;
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    const signals = [opts.signal, timeoutMs > 0 ? AbortSignal.timeout(timeoutMs) : undefined];
    const signal = AbortSignal.any(signals.filter((x): x is AbortSignal => x !== undefined));
    let res: Response;
    const go = () => this.fetch(url, { method: route.method, headers, body, signal });
    try {
      res = await go().catch((e: unknown) => {
        // A kept-alive connection the server closed as idle just as this request went out on
        // it: sent again, on another connection, when that is harmless.
        const repeatable = route.method === 'GET' || (route as RouteDef).repeatable === true;
        if (!repeatable || signal.aborted || !CLOSED_UNDER_US.has(causeCode(e) ?? '')) throw e;
        return go();
      });
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      throw new SlipwayError(
        'UNAVAILABLE',
        `cannot reach the Slipway server at ${this.server}: ${describeFetchError(e)}`,
        { url },
        { cause: e },
      );
    }
    if (!res.ok) throw await errorFrom(res, route.path);
    return res;
  }
}

/** Every item of a paged list: pages are read in turn, each after the `next` of the one before. */
async function allPages<T>(
  page: (after: string | undefined) => Promise<{ items: T[]; next: string | null }>,
): Promise<T[]> {
  const items: T[] = [];
  let after: string | undefined;
  for (;;) {
    const p = await page(after);
    items.push(...p.items);
    if (p.next === null) return items;
    after = p.next;
  }
}

async function errorFrom(res: Response, path: string): Promise<SlipwayError> {
  const text = await res.text();
  try {
    const parsed = s.errorBody.parse(JSON.parse(text));
    const code = (ERROR_CODES as readonly string[]).includes(parsed.error.code)
      ? (parsed.error.code as ErrorCode)
      : 'INTERNAL';
    return new SlipwayError(code, parsed.error.message, parsed.error.details);
  } catch {
    return new SlipwayError('INTERNAL', `HTTP ${res.status} from ${path}: ${text.slice(0, 200)}`);
  }
}

/** How a request fails when the connection it went out on was closed by the other side. */
const CLOSED_UNDER_US = new Set(['UND_ERR_SOCKET', 'ECONNRESET']);

function causeCode(e: unknown): string | undefined {
  return (e as { cause?: { code?: string } } | undefined)?.cause?.code;
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    return cause?.code ?? cause?.message ?? e.message;
  }
  return String(e);
}
