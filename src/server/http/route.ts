/**
 * Registers routes of the API table on Fastify, with one way of authenticating, authorizing,
 * validating and answering. Who may call a route is the route table's `auth`; the check runs in
 * an `onRequest` hook, before any byte of the body is read.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { SlipwayError } from '../../core/index.js';
import { DEFAULT_BODY_LIMIT, zodIssuesToProblems, type RouteDef } from '../../api/index.js';
import type { Authenticator } from '../authz/authenticate.js';
import { authorize } from '../authz/authorize.js';
import type { Identity } from '../authz/identity.js';
import type { TargetResolver } from '../authz/targets.js';
import { refuseNul } from './refuse-nul.js';

type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface HandlerContext<R extends RouteDef> {
  params: Record<string, string>;
  query: Out<R['query']>;
  body: R['body'] extends z.ZodType ? z.output<R['body']> : unknown;
  /** Who is calling, as authenticated and authorized for this route. */
  identity: Identity;
  request: FastifyRequest;
  reply: FastifyReply;
}

/**
 * What registering a route needs: the Fastify app, how to tell who is calling, and how to find
 * what a scoped call acts on.
 */
export interface RouteHost {
  app: FastifyInstance;
  auth: Authenticator;
  targets: TargetResolver;
}

const identities = new WeakMap<FastifyRequest, Identity>();

/**
 * Adds one route: authenticates and authorizes (before the body is read: the permission on some
 * scope), validates query and body with the route's zod schemas, checks a scoped permission on
 * what the call acts on, runs the handler and sends what it returns as JSON (a handler that
 * answered itself returns `reply`).
 */
export function addRoute<R extends RouteDef>(
  host: RouteHost,
  route: R,
  handler: (ctx: HandlerContext<R>) => Promise<unknown>,
): void {
  host.app.route({
    method: route.method,
    url: route.path,
    bodyLimit: route.bodyLimit ?? DEFAULT_BODY_LIMIT,
    onRequest: async (request, reply) => {
      try {
        const identity: Identity =
          route.auth === 'none'
            ? { kind: 'anonymous' }
            : await host.auth.identify(request.headers.authorization);
        authorize(identity, route.auth);
        identities.set(request, identity);
      } catch (e) {
        // The body was not read: close rather than read and discard what the caller still sends.
        reply.header('connection', 'close');
        throw e;
      }
    },
    handler: async (request, reply) => {
      const identity = identities.get(request);
      if (!identity) throw new SlipwayError('INTERNAL', 'request was not authenticated');
      refuseNul(request.params, 'path');
      refuseNul(request.query, 'query');
      if (!Buffer.isBuffer(request.body)) refuseNul(request.body, 'body');
      const query = route.query ? parseOrThrow(route.query, request.query, 'query') : undefined;
      const body = route.body ? parseOrThrow(route.body, request.body, 'body') : request.body;
      const params = request.params as Record<string, string>;
      if (route.target)
        authorize(identity, route.auth, await host.targets(route.target, { params, body }));
      const result = await handler({
        params,
        query: query as Out<R['query']>,
        body: body as HandlerContext<R>['body'],
        identity,
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
