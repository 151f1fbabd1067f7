/**
 * Registers routes of the API table on Fastify, with one way of authenticating, authorizing,
 * validating and answering. Who may call a route is the route table's `auth`; the check runs in
 * an `onRequest` hook, before any byte of the body is read.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { SlipwayError, isSlipwayError } from '../../core/index.js';
import { DEFAULT_BODY_LIMIT, routes, zodIssuesToProblems, type RouteDef } from '../../api/index.js';
import type { AuditRecorder, CallAudit } from '../audit/recorder.js';
import { redactArgs } from '../audit/redact.js';
import type { Authenticator } from '../authz/authenticate.js';
import { authorize } from '../authz/authorize.js';
import { actorOf, type Identity } from '../authz/identity.js';
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
  /** Where calls that change something, and refused calls, are recorded. */
  audit: AuditRecorder;
}

const identities = new WeakMap<FastifyRequest, Identity>();

/**
 * Adds one route: authenticates and authorizes (before the body is read: the permission on some
 * scope), validates query and body with the route's zod schemas, checks a scoped permission on
 * what the call acts on, runs the handler and sends what it returns as JSON (a handler that
 * answered itself returns `reply`). A call that may change something (not a GET, unless the
 * route says `audit: false`) is written to the audit trail with what came of it; so is every
 * refused call.
 */
export function addRoute<R extends RouteDef>(
  host: RouteHost,
  route: R,
  handler: (ctx: HandlerContext<R>) => Promise<unknown>,
): void {
  const operation = routeName(route);
  const audited = route.method !== 'GET' && route.audit !== false;
  host.app.route({
    method: route.method,
    url: route.path,
    bodyLimit: route.bodyLimit ?? DEFAULT_BODY_LIMIT,
    onRequest: async (request, reply) => {
      let identity: Identity = { kind: 'anonymous' };
      try {
        if (route.auth !== 'none')
          identity = await host.auth.identify(request.headers.authorization, request.ip);
        authorize(identity, route.auth);
        identities.set(request, identity);
      } catch (e) {
        // The body was not read: close rather than read and discard what the caller still sends.
        reply.header('connection', 'close');
        await host.audit.refused(callOf(operation, identity, request, {}), (e as Error).message);
        throw e;
      }
    },
    handler: async (request, reply) => {
      const caller = identities.get(request);
      if (!caller) throw new SlipwayError('INTERNAL', 'request was not authenticated');
      const params = request.params as Record<string, string>;
      // Built only for a call that is audited or refused: redacting a body costs, and agents'
      // reports and long polls (thousands a second) are neither.
      const makeCall = () =>
        callOf(operation, caller, request, {
          params,
          query: request.query,
          body: Buffer.isBuffer(request.body) ? undefined : request.body,
        });
      const call = audited ? makeCall() : null;
      const identity = call ? host.audit.serving(caller, call) : caller;
      const answer = async () => {
        refuseNul(request.params, 'path');
        refuseNul(request.query, 'query');
        if (!Buffer.isBuffer(request.body)) refuseNul(request.body, 'body');
        const query = route.query ? parseOrThrow(route.query, request.query, 'query') : undefined;
        const body = route.body ? parseOrThrow(route.body, request.body, 'body') : request.body;
        if (route.target) {
          const target = await host.targets(route.target, { params, body });
          const on = call ?? makeCall();
          if (target.environment !== undefined) on.target.environment = target.environment;
          if (target.service !== undefined) on.target.service = target.service;
          const escalated =
            route.escalate &&
            (body as Record<string, unknown> | null)?.[route.escalate.field] !== undefined;
          try {
            authorize(identity, route.auth, target);
            if (escalated) authorize(identity, route.escalate!.auth, target);
          } catch (e) {
            on.recorded = true;
            await host.audit.refused(on, (e as Error).message);
            throw e;
          }
        }
        return handler({
          params,
          query: query as Out<R['query']>,
          body: body as HandlerContext<R>['body'],
          identity,
          request,
          reply,
        });
      };
      let result: unknown;
      if (!call) result = await answer();
      else {
        try {
          result = await answer();
        } catch (e) {
          await host.audit.finished(call, describeError(e));
          throw e;
        }
        await host.audit.finished(call, 'ok');
      }
      if (result === reply) return reply;
      return reply.send(result);
    },
  });
}

/** A call as its audit entry says it: who, from where, what with (redacted), on what. */
function callOf(
  operation: string,
  identity: Identity,
  request: FastifyRequest,
  args: { params?: Record<string, string>; query?: unknown; body?: unknown },
): CallAudit {
  const target: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(args.params ?? {})) target[k] = v;
  return {
    operation,
    actor: actorOf(identity),
    tokenId: identity.kind === 'user' ? identity.tokenId : null,
    source: request.ip,
    args: redactArgs(args),
    target,
    recorded: false,
  };
}

function describeError(e: unknown): string {
  const code = isSlipwayError(e) ? e.code : 'INTERNAL';
  return `${code}: ${(e as Error).message}`;
}

/** The route's name in the table (`createDeployment`): what the audit trail calls the operation. */
function routeName(route: RouteDef): string {
  const found = Object.entries(routes).find(([, r]) => r === route);
  return found ? found[0] : `${route.method} ${route.path}`;
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
