/** What a route of the API table declares: its method and path, who may call it, its schemas. */
import type { z } from 'zod';
import type { Permission } from '../core/index.js';

/**
 * Who may call a route: anyone (`none`), the join token, an agent's own credential, or a user's
 * token whose grant holds the permission (`core/access.ts`); `fetch` also lets agents through,
 * for the images their goal names (checked per image by the handler).
 */
export type Auth = 'none' | 'join' | 'agent' | Permission;

/**
 * What a scoped permission is checked on, besides holding it at all: the environment and
 * service of the deployment asked for (`new-deployment`, from the body), of the deployment
 * named by `:id` (`deployment`), the service of the image registered (`new-image`, from the
 * body) or named by `:id` (`image`).
 */
export type TargetOf = 'new-deployment' | 'deployment' | 'new-image' | 'image';

export interface RouteDef {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Fastify-style path with `:param` segments. */
  path: string;
  summary: string;
  auth: Auth;
  /** What the permission is checked on (absent: holding it on any scope is enough). */
  target?: TargetOf;
  /** A body field that, when given, also needs this permission on the same target. */
  escalate?: { field: string; auth: Permission };
  body?: z.ZodType;
  query?: z.ZodType;
  response?: z.ZodType;
  /** Non-JSON body or response (chunks, server-sent events). */
  contentType?: 'application/octet-stream' | 'text/event-stream';
  /** Largest body the route reads, in bytes (default `DEFAULT_BODY_LIMIT`); larger gets 413. */
  bodyLimit?: number;
  /** Sending it twice does what sending it once does (every GET is; some POSTs are too). */
  repeatable?: true;
  /**
   * `false`: not written to the audit trail although it is not a GET (agents' reports, chunk
   * uploads and lookups: many a second, and inert; what they lead to is recorded).
   */
  audit?: false;
}
