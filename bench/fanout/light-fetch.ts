/**
 * The part of `fetch` the API client uses, over undici's `request`: what a simulated agent
 * sends and receives is the client's own, but without the WHATWG Request, Response and stream
 * objects `fetch` builds for every call. With 10,000 agents in this one process those took a
 * core (bench profile: `fetch` and its streams were most of the bench's time during a fan-out)
 * and the bench, not the server, set the pace. Real agents each have a process of their own.
 */
import type { Dispatcher } from 'undici';

/** A Response with only what the client reads of one. */
interface LightResponse {
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
  text(): Promise<string>;
}

export function lightFetch(dispatcher: Dispatcher): typeof fetch {
  return (async (input: string | URL, init: RequestInit = {}): Promise<LightResponse> => {
    const url = new URL(input);
    let res: Dispatcher.ResponseData;
    try {
      res = await dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
        headers: init.headers as Record<string, string> | undefined,
        body: init.body as string | Uint8Array | undefined,
        signal: init.signal ?? undefined,
      });
    } catch (e) {
      // As fetch fails: the network error is the cause, where the client looks for its code.
      throw new TypeError('fetch failed', { cause: e });
    }
    return {
      ok: res.statusCode >= 200 && res.statusCode < 300,
      status: res.statusCode,
      json: () => res.body.json(),
      text: () => res.body.text(),
    };
  }) as unknown as typeof fetch;
}
