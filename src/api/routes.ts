/**
 * Every route of the REST API in one table: the server registers its handlers against it and
 * the OpenAPI document is generated from it, so the two cannot drift apart.
 */
import { z } from 'zod';
import type { RouteDef } from './route-def.js';
import * as s from './schemas.js';
import { jobRoutes } from './job-routes.js';

export type { Auth, RouteDef, TargetOf } from './route-def.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Body limit of a route that does not set its own: enough for any small request. */
export const DEFAULT_BODY_LIMIT = 64 * KiB;
/** The largest chunk the chunker cuts (image/chunker.ts CHUNKING.maxSize; a test keeps them equal). */
export const MAX_CHUNK_BYTES = 256 * KiB;

const ok = z.object({ ok: z.literal(true) });
const limitQuery = z.object({
  service: z.string().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(50),
});

/**
 * Hosts one answer of GET /v1/hosts names at most: an answer of 10,000 hosts with their reports
 * is megabytes of JSON that keep the server from answering anything else while they are
 * written. Pages go by name; `after` is the last name of the page before.
 */
export const HOSTS_PAGE_MAX = 2_000;
const hostsQuery = z.object({
  after: s.hostName.optional(),
  limit: z.coerce.number().int().min(1).max(HOSTS_PAGE_MAX).default(500),
  region: z.string().max(256).optional(),
});
/** What runs where pages the same way, by host; of one service if asked. */
const statusQuery = hostsQuery.extend({ service: z.string().max(256).optional() });

/** Deployments: besides the service, the environment they went to. */
const deploymentListQuery = limitQuery.extend({ environment: z.string().optional() });

export const routes = {
  health: { method: 'GET', path: '/healthz', summary: 'Liveness', auth: 'none', response: ok },
  enroll: {
    method: 'POST',
    path: '/v1/agent/enroll',
    summary: 'Enroll a host with the join token; returns its own credential',
    auth: 'join',
    body: s.enrollRequest,
    response: s.enrollResponse,
  },
  agentGoal: {
    method: 'GET',
    path: '/v1/agent/goal',
    summary: 'Long poll: the goal state of the calling host, once its generation exceeds `after`',
    auth: 'agent',
    query: z.object({
      after: z.coerce.number().int().min(-1).default(-1),
      waitMs: z.coerce.number().int().min(0).max(60_000).default(25_000),
    }),
    response: s.agentGoal,
  },
  agentReport: {
    method: 'POST',
    path: '/v1/agent/report',
    summary: 'Status report of the calling host',
    auth: 'agent',
    body: s.agentReport,
    response: ok,
    bodyLimit: 1 * MiB,
    // A report is the host's whole state, not a change to it.
    repeatable: true,
    audit: false,
  },
  listHosts: {
    method: 'GET',
    path: '/v1/hosts',
    summary: 'Registered hosts and what they run, by name, a page at a time (of one region)',
    auth: 'read',
    query: hostsQuery,
    response: s.hostPage,
  },
  removeHost: {
    method: 'DELETE',
    path: '/v1/hosts/:name',
    summary: 'Remove a host: revoke its credential and drop its goals; its name can enroll again',
    auth: 'operate',
    response: ok,
  },
  setHostRelay: {
    method: 'PUT',
    path: '/v1/hosts/:name/relay',
    summary: 'Name a host its region’s relay, or not',
    auth: 'operate',
    body: s.setRelayRequest,
    response: s.host,
  },
  getServiceMap: {
    method: 'GET',
    path: '/v1/service-map',
    summary: 'The service map in force',
    auth: 'read',
    response: s.serviceMapRecord,
  },
  applyServiceMap: {
    method: 'PUT',
    path: '/v1/service-map',
    summary: 'Validate and apply a service map; nothing changes when any problem is found',
    auth: 'admin',
    body: z.unknown(),
    response: s.serviceMapRecord,
    bodyLimit: 1 * MiB,
  },
  missingChunks: {
    method: 'POST',
    path: '/v1/chunks/missing',
    summary: 'Which of these chunks the origin lacks',
    auth: 'build',
    body: s.missingChunksRequest,
    response: s.missingChunksResponse,
    bodyLimit: 8 * MiB,
    audit: false,
  },
  collectGarbage: {
    method: 'POST',
    path: '/v1/origin/gc',
    summary: 'Delete origin chunks no image references (older than the grace time)',
    auth: 'admin',
    body: z.object({ graceSeconds: z.number().int().min(0).optional() }),
    response: z.object({
      removed: z.number().int(),
      bytesFreed: z.number().int(),
      referenced: z.number().int(),
    }),
  },
  putChunk: {
    method: 'PUT',
    path: '/v1/chunks/:digest',
    summary: 'Upload one chunk; refused unless its bytes hash to its name',
    auth: 'build',
    contentType: 'application/octet-stream',
    response: z.object({ digest: s.digest, size: z.number().int() }),
    bodyLimit: MAX_CHUNK_BYTES + 4 * KiB,
    audit: false,
  },
  getChunk: {
    method: 'GET',
    path: '/v1/chunks/:digest',
    summary: 'Download one chunk (or, with base, a delta from a chunk the caller holds)',
    auth: 'fetch',
    query: z.object({
      base: z
        .string()
        .regex(/^[0-9a-f]{64}(,[0-9a-f]{64}){0,3}$/, 'one to four chunk digests, comma-separated')
        .optional(),
    }),
    contentType: 'application/octet-stream',
  },
  createImage: {
    method: 'POST',
    path: '/v1/images',
    summary: 'Register an image from its manifest; every chunk must already be uploaded',
    auth: 'build',
    target: 'new-image',
    body: s.createImageRequest,
    response: s.image,
    bodyLimit: 64 * MiB,
  },
  listImages: {
    method: 'GET',
    path: '/v1/images',
    summary: 'Images, newest first',
    auth: 'read',
    query: limitQuery,
    response: z.array(s.image),
  },
  getImage: {
    method: 'GET',
    path: '/v1/images/:id',
    summary: 'One image',
    auth: 'read',
    response: s.image,
  },
  getManifest: {
    method: 'GET',
    path: '/v1/images/:id/manifest',
    summary: 'The canonical manifest of an image',
    auth: 'fetch',
  },
  tagImage: {
    method: 'POST',
    path: '/v1/images/:id/tags',
    summary: 'Point a tag of the image’s service at this image',
    auth: 'build',
    target: 'image',
    body: s.tagRequest,
    response: s.image,
  },
  listReleases: {
    method: 'GET',
    path: '/v1/services/:service/releases',
    summary: 'Releases of a service, newest first',
    auth: 'read',
    response: z.array(s.release),
  },
  createDeployment: {
    method: 'POST',
    path: '/v1/deployments',
    summary: 'Deploy, stage or roll back a service; the plan is checked before anything moves',
    auth: 'deploy',
    target: 'new-deployment',
    escalate: { field: 'breakGlass', auth: 'break-glass' },
    body: s.createDeploymentRequest,
    response: s.deployment,
  },
  planDeployment: {
    method: 'POST',
    path: '/v1/deployments/plan',
    summary:
      'What a deployment would do (hosts, batches, approvals) and what would refuse it; nothing moves',
    auth: 'deploy',
    target: 'new-deployment',
    escalate: { field: 'breakGlass', auth: 'break-glass' },
    body: s.createDeploymentRequest,
    response: s.deploymentPlan,
    // Changes nothing: not in the audit trail.
    audit: false,
    repeatable: true,
  },
  listDeployments: {
    method: 'GET',
    path: '/v1/deployments',
    summary: 'Deployments, newest first; of one service and/or environment',
    auth: 'read',
    query: deploymentListQuery,
    response: z.array(s.deployment),
  },
  getDeployment: {
    method: 'GET',
    path: '/v1/deployments/:id',
    summary: 'One deployment with per-host progress (`:id` may be a unique prefix of its id)',
    auth: 'read',
    response: s.deployment,
  },
  cancelDeployment: {
    method: 'POST',
    path: '/v1/deployments/:id/cancel',
    summary: 'Cancel a running deployment; activated hosts return to their previous release',
    auth: 'deploy',
    target: 'deployment',
    response: s.deployment,
  },
  pauseDeployment: {
    method: 'POST',
    path: '/v1/deployments/:id/pause',
    summary: 'Stop a running deployment before its next batch (the batch under way finishes)',
    auth: 'deploy',
    target: 'deployment',
    response: s.deployment,
    repeatable: true,
  },
  resumeDeployment: {
    method: 'POST',
    path: '/v1/deployments/:id/resume',
    summary: 'Let a paused deployment go on with its next batch',
    auth: 'deploy',
    target: 'deployment',
    response: s.deployment,
    repeatable: true,
  },
  approveDeployment: {
    method: 'POST',
    path: '/v1/deployments/:id/approve',
    summary: 'Approve a deployment awaiting approval (not one you asked for)',
    auth: 'approve',
    target: 'deployment',
    response: s.deployment,
  },
  rejectDeployment: {
    method: 'POST',
    path: '/v1/deployments/:id/reject',
    summary: 'Reject a deployment awaiting approval, with why',
    auth: 'approve',
    target: 'deployment',
    body: s.rejectRequest,
    response: s.deployment,
  },
  deploymentEvents: {
    method: 'GET',
    path: '/v1/deployments/:id/events',
    summary: 'Server-sent events of one deployment, from its first',
    auth: 'read',
    contentType: 'text/event-stream',
  },
  events: {
    method: 'GET',
    path: '/v1/events',
    summary: 'Server-sent events of everything, from now (or after `after`)',
    auth: 'read',
    query: z.object({ after: z.coerce.number().int().optional() }),
    contentType: 'text/event-stream',
  },
  status: {
    method: 'GET',
    path: '/v1/status',
    summary:
      'What runs where: one row per host and service, a page of hosts at a time by name (of one region, of one service)',
    auth: 'read',
    query: statusQuery,
    response: s.statusPage,
  },
  whoami: {
    method: 'GET',
    path: '/v1/whoami',
    summary: 'Who the calling token belongs to, and its grant',
    auth: 'read',
    response: s.whoami,
  },
  listUsers: {
    method: 'GET',
    path: '/v1/users',
    summary: 'People and machine accounts',
    auth: 'admin',
    response: z.array(s.user),
  },
  createUser: {
    method: 'POST',
    path: '/v1/users',
    summary: 'Add a person or a machine account (it holds nothing until given a token)',
    auth: 'admin',
    body: s.createUserRequest,
    response: s.user,
  },
  removeUser: {
    method: 'DELETE',
    path: '/v1/users/:name',
    summary: 'Remove a user and revoke every token of it',
    auth: 'admin',
    response: ok,
  },
  listTokens: {
    method: 'GET',
    path: '/v1/tokens',
    summary: 'Users’ tokens: id, user, grant, expiry; never the secret',
    auth: 'admin',
    response: z.array(s.apiToken),
  },
  createToken: {
    method: 'POST',
    path: '/v1/tokens',
    summary: 'Make a token holding one role on one scope; the secret is returned this once',
    auth: 'admin',
    body: s.createTokenRequest,
    response: s.createdToken,
  },
  revokeToken: {
    method: 'DELETE',
    path: '/v1/tokens/:id',
    summary: 'Revoke a user’s token: every server refuses it from then on',
    auth: 'admin',
    response: ok,
  },
  listAudit: {
    method: 'GET',
    path: '/v1/audit',
    summary: 'The audit trail, oldest first, a page at a time (after `after`)',
    auth: 'read',
    query: z.object({
      after: z.coerce.number().int().min(0).optional(),
      since: z.iso.datetime({ offset: true }).optional(),
      user: z.string().max(128).optional(),
      environment: z.string().max(64).optional(),
      limit: z.coerce.number().int().min(1).max(1000).default(100),
    }),
    response: z.array(s.auditEntry),
  },
  verifyAudit: {
    method: 'GET',
    path: '/v1/audit/verify',
    summary: 'Walk the audit trail’s hash chain and name the first entry that does not hold',
    auth: 'read',
    response: s.auditVerdict,
  },
  ...jobRoutes,
} as const satisfies Record<string, RouteDef>;

export type RouteName = keyof typeof routes;
