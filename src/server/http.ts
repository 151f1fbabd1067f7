/** Registers routes of the API table on Fastify with one way of checking tokens, inputs and errors. */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { SlipwayError, httpStatusOf, isSlipwayError } from '../core/index.js';
import { zodIssuesToProblems, type RouteDef } from '../api/index.js';
import type { Store } from '../store/index.js';
import { authenticate, type Caller } from './auth.js';

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface HandlerContext<R extends RouteDef> {
  params: Record<string, string>;
  query: Out<R['query']>;
  body: R['body'] extends z.ZodType ? z.output<R['body']> : unknown;
  caller: Caller;
  request: FastifyRequest;
  reply: FastifyReply;
}

/**
 * Adds one route: authenticates, validates query and body with the route's zod schemas, runs the
 * handler and sends what it returns as JSON (a handler that answered itself returns `reply`).
 */
export function addRoute<R extends RouteDef>(
  app: FastifyInstance,
  store: Store,
  route: R,
  handler: (ctx: HandlerContext<R>) => Promise<unknown>,
): void {
  app.route({
    method: route.method,
    url: route.path,
    handler: async (request, reply) => {
      const caller = await authenticate(store, request.headers.authorization, route.auth);
      const query = route.query ? parseOrThrow(route.query, request.query, 'query') : undefined;
      const body = route.body ? parseOrThrow(route.body, request.body, 'body') : request.body;
      const result = await handler({
        params: request.params as Record<string, string>,
        query: query as Out<R['query']>,
        body: body as HandlerContext<R>['body'],
        caller,
        request,
        reply,
      });
      if (result === reply) return reply;
      return reply.send(result);
    },
  });
}

function parseOrThrow(schema: z.ZodType, value: unknown, where: string): unknown {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const problems = zodIssuesToProblems(parsed.error.issues);
  throw new SlipwayError(
    'INVALID',
    `invalid request ${where}: ${problems.map((p) => `${p.path || '(root)'}: ${p.message}`).join('; ')}`,
    { problems },
  );
}

/** Maps every error to `{ error: { code, message, details } }` with the status of its code. */
export function installErrorHandling(app: FastifyInstance, log: (msg: string) => void): void {
  app.setErrorHandler((err: unknown, _request, reply) => {
    if (isSlipwayError(err)) {
      return reply
        .status(httpStatusOf[err.code])
        .send({ error: { code: err.code, message: err.message, details: err.details } });
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status !== undefined && status >= 400 && status < 500) {
      const code = status === 404 ? 'NOT_FOUND' : status === 413 ? 'INVALID' : 'INVALID';
      return reply
        .status(status)
        .send({ error: { code, message: (err as Error).message, details: {} } });
    }
    log(`internal error: ${(err as Error)?.stack ?? String(err)}`);
    return reply.status(500).send({
      error: { code: 'INTERNAL', message: 'internal error (see the server log)', details: {} },
    });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({
      error: {
        code: 'NOT_FOUND',
        message: `no route ${request.method} ${request.url}`,
        details: {},
      },
    }),
  );
}
