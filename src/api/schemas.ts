/**
 * The wire contract: zod schemas of every request, response and event of the REST API.
 * Browser-safe (the dashboard imports it): no node: modules.
 */
import { z } from 'zod';

import { digest, serviceName } from './names.js';
import { goalJob } from './job-schemas.js';

export { digest, serviceName };
export const hostName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'must be letters, digits, dot, dash or underscore');
export const labels = z.record(z.string(), z.string());

/** The error body of every failed request. */
export const errorBody = z.object({
  error: z.object({
    code: z.string(),
    message: z.string(),
    details: z.record(z.string(), z.unknown()).default({}),
  }),
});
export type ErrorBody = z.infer<typeof errorBody>;

// ---- normalized service spec (the shape releases carry; see core/types.ts) ----

const runSpec = z.union([
  z.object({ argv: z.array(z.string()).min(1) }),
  z.object({ shell: z.string().min(1) }),
]);
const amount = z.union([
  z.object({ count: z.number().int().min(0) }),
  z.object({ percent: z.number().min(0).max(100) }),
]);
const healthProbe = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('http'), path: z.string() }),
  z.object({ kind: z.literal('tcp') }),
  z.object({ kind: z.literal('command'), run: runSpec }),
]);
const hostSelector = z.object({ regions: z.array(z.string()), labels });
const bound = z.number().nullable();
export const gateSpec = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('http'), url: z.string(), min: bound, max: bound }),
  z.object({
    kind: z.literal('prometheus'),
    url: z.string(),
    query: z.string(),
    min: bound,
    max: bound,
  }),
]);
const waveSpec = z.object({
  name: z.string(),
  hosts: amount.nullable(),
  regions: z.array(z.string()),
  batchSize: amount.nullable(),
  failureThreshold: amount.nullable(),
  bakeMs: z.number().int().min(0),
  gates: z.array(gateSpec),
});
export const serviceSpec = z.object({
  name: serviceName,
  run: runSpec,
  port: z.union([z.number().int().min(1).max(65535), z.literal('dynamic'), z.null()]),
  env: z.record(z.string(), z.string()),
  health: z
    .object({
      probe: healthProbe,
      timeoutMs: z.number().int().positive(),
      intervalMs: z.number().int().positive(),
      healthyAfter: z.number().int().min(1),
      deadlineMs: z.number().int().positive(),
    })
    .nullable(),
  after: z.array(z.string()),
  placement: hostSelector,
  rollout: z.object({
    batchSize: amount,
    failureThreshold: amount,
    waves: z.array(waveSpec).optional(),
    stage: z.enum(['all', 'per-wave']).optional(),
  }),
  keepReleases: z.number().int().min(1),
  /** Absent in releases made before services published ports: none. */
  publish: z
    .object({
      port: z.number().int().min(1).max(65535),
      drainMs: z.number().int().min(0),
      via: z.enum(['auto', 'nftables', 'proxy']),
    })
    .optional(),
  /** Absent in releases made before services had hooks: none. */
  hooks: z
    .object({
      beforeActivate: runSpec.nullable(),
      validate: runSpec.nullable(),
      afterActivate: runSpec.nullable(),
      timeoutMs: z.number().int().positive(),
    })
    .optional(),
});

export const environmentSpec = z.object({
  name: z.string(),
  hosts: hostSelector,
  env: z.record(z.string(), z.string()),
  services: z.record(
    z.string(),
    z.object({
      env: z.record(z.string(), z.string()).optional(),
      rollout: z
        .object({
          batchSize: amount,
          failureThreshold: amount,
          waves: z.array(waveSpec),
          stage: z.enum(['all', 'per-wave']),
        })
        .partial()
        .optional(),
    }),
  ),
  /** Absent in maps applied before environments had policies: no approvals. */
  policy: z
    .object({
      approvals: z.number().int(),
      approvalTimeoutMs: z.number().int(),
      windows: z
        .array(
          z.object({
            days: z.array(z.enum(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])),
            fromMinute: z.number().int(),
            toMinute: z.number().int(),
            timezone: z.string(),
          }),
        )
        .optional(),
      freezes: z
        .array(z.object({ from: z.number(), to: z.number(), reason: z.string() }))
        .optional(),
      promoteFrom: z.string().nullable().optional(),
    })
    .optional(),
});
/** The normalized service map (core's ServiceMap), as stored and returned. */
export const normalizedServiceMap = z.object({
  regions: z.array(z.string()),
  services: z.record(z.string(), serviceSpec),
  environments: z.record(z.string(), environmentSpec),
});

// ---- agents ----

export const enrollRequest = z.object({
  name: hostName,
  region: z.string().min(1).max(63),
  labels: labels.default({}),
  /** Name this host its region's relay (`slipway agent --relay`); an operator may change it. */
  relay: z.boolean().default(false),
});
export const setRelayRequest = z.object({ relay: z.boolean() });
export const enrollResponse = z.object({ hostId: z.string(), token: z.string() });

export const goalRelease = z.object({
  version: z.number().int().positive(),
  imageId: digest,
  config: serviceSpec,
});
export const goalService = z.object({
  service: serviceName,
  /** Releases the host must hold on disk. */
  stage: z.array(goalRelease),
  /** The release that must run, or null for none. */
  active: goalRelease.nullable(),
});
/** An agent of the same region that serves chunks. */
export const peer = z.object({
  hostId: z.string(),
  name: z.string(),
  url: z.string(),
  /** The region's relay: fetches from the origin what no peer holds yet. */
  relay: z.boolean(),
});
export type Peer = z.infer<typeof peer>;

export const peering = z.object({
  /** This agent's ticket, signed by the control plane, shown to peers. Short-lived: renewed with every goal answer. */
  ticket: z.string(),
  /** The control plane's public key (PEM): checks the tickets peers show. */
  serverKey: z.string(),
  /**
   * Other agents of this region that serve chunks: every relay, and a random few of the rest
   * (a region may hold thousands; a fetch watches eight).
   */
  peers: z.array(peer),
  /**
   * This agent's share of the chunks it takes from its relay: those whose index modulo `of` is
   * `index` (its place among the region's agents that are not relays); null for a relay.
   */
  share: z
    .object({ index: z.number().int().min(0), of: z.number().int().min(1) })
    .nullable()
    .default(null),
});
export type Peering = z.infer<typeof peering>;

export const agentGoal = z.object({
  generation: z.number().int().min(0),
  services: z.array(goalService),
  peering: peering.nullable().default(null),
  /**
   * Report this goal's effect at a random moment within this many ms rather than at once: the
   * server sent it to many agents together, and their reports at once would crowd it out.
   */
  reportWithinMs: z.number().int().min(0).max(60_000).default(0),
  /** Jobs this host is to run (or stop): absent from older servers. */
  jobs: z.array(goalJob).default([]),
});
export type AgentGoal = z.infer<typeof agentGoal>;
export type GoalService = z.infer<typeof goalService>;
export type GoalRelease = z.infer<typeof goalRelease>;

export const activeState = z.enum(['activating', 'healthy', 'unhealthy', 'stopped']);
export const serviceReport = z.object({
  service: serviceName,
  staged: z.array(z.number().int().positive()),
  stagingFailed: z.object({ version: z.number().int(), error: z.string() }).nullable(),
  /**
   * A release whose activation failed before it stopped the one running (its `beforeActivate`
   * hook), with why: the release running serves on. Absent from older agents.
   */
  activationFailed: z
    .object({ version: z.number().int(), error: z.string() })
    .nullable()
    .default(null),
  fetching: z
    .object({
      version: z.number().int(),
      bytesDone: z.number().int().min(0),
      bytesTotal: z.number().int().min(0),
    })
    .nullable(),
  active: z
    .object({
      version: z.number().int().positive(),
      state: activeState,
      detail: z.string().nullable(),
      port: z.number().int().nullable(),
      pid: z.number().int().nullable(),
      /** The public port pointed at it, and how (null: none; absent from older agents). */
      published: z
        .object({ port: z.number().int(), via: z.enum(['nftables', 'proxy']) })
        .nullable()
        .optional(),
    })
    .nullable(),
});
export const agentReport = z.object({
  services: z.array(serviceReport),
  /** Bytes this agent received since it started, by where they came from. */
  bytesReceived: z.record(z.string(), z.number().int().min(0)).default({}),
  /** Bytes this agent sent to peers since it started. */
  bytesServed: z.number().int().min(0).default(0),
  /** Where this agent serves chunks to its region (null: it does not). */
  peerUrl: z.string().nullable().default(null),
  /**
   * Whether this agent acts as its region's relay. Not believed: the server names relays (at
   * enrollment, or `slipway hosts relay`). Still accepted from older agents.
   */
  relay: z.boolean().default(false),
});
export type ServiceReport = z.infer<typeof serviceReport>;
export type AgentReport = z.infer<typeof agentReport>;

/** A report as the server keeps it: the agent's, with its peer URL as the server checked it. */
export const hostReport = agentReport.extend({
  /** The agent's peer URL once the server checked it (null: none, or refused). Only this one reaches peers. */
  checkedPeerUrl: z.string().nullable().default(null),
  /** Why the agent's peer URL was not handed to peers (null: it was, or there was none). */
  peerUrlProblem: z.string().nullable().default(null),
});
export type HostReport = z.infer<typeof hostReport>;

// ---- hosts ----

export const host = z.object({
  id: z.string(),
  name: z.string(),
  region: z.string(),
  labels,
  online: z.boolean(),
  lastSeenAt: z.string().nullable(),
  services: z.array(serviceReport),
  /** Bytes received since the agent started, by source: origin, relay, peer. */
  bytesReceived: z.record(z.string(), z.number().int().min(0)),
  bytesServed: z.number().int().min(0),
  /** Where peers reach it (checked by the server). */
  peerUrl: z.string().nullable(),
  /** Why the peer URL it reported is not handed to peers (null: no problem). */
  peerUrlProblem: z.string().nullable().default(null),
  /** Named its region's relay by an operator. */
  relay: z.boolean(),
});
export type Host = z.infer<typeof host>;

/** One page of hosts by name; `next` is the `after` of the next page, null on the last. */
export const hostPage = z.object({ hosts: z.array(host), next: z.string().nullable() });
export type HostPage = z.infer<typeof hostPage>;

// ---- service map ----

/** The service map as stored: the user's document and its normalized form. */
export const serviceMapRecord = z.object({
  version: z.number().int(),
  appliedAt: z.string(),
  document: z.unknown(),
  map: normalizedServiceMap,
});
export type ServiceMapRecord = z.infer<typeof serviceMapRecord>;

// ---- images ----

export const missingChunksRequest = z.object({ digests: z.array(digest).max(100_000) });
export const missingChunksResponse = z.object({ missing: z.array(digest) });
export const createImageRequest = z.object({
  service: serviceName,
  manifest: z.unknown(),
  tags: z.array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/)).default([]),
});
export type CreateImageRequest = z.output<typeof createImageRequest>;
export const image = z.object({
  id: digest,
  service: z.string(),
  size: z.number().int(),
  files: z.number().int(),
  chunks: z.number().int(),
  tags: z.array(z.string()),
  createdAt: z.string(),
});
export type Image = z.infer<typeof image>;
export const tagRequest = z.object({ tag: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/) });

/** One event of the event streams. */
export const event = z.object({
  id: z.number().int(),
  at: z.string(),
  deploymentId: z.string().nullable(),
  type: z.string(),
  /** Who caused it: `user:admin`, `agent:<host id>`, `system:orchestrator`, `join`. */
  actor: z.string().nullable().default(null),
  data: z.record(z.string(), z.unknown()),
});
export type SlipwayEvent = z.infer<typeof event>;

/** What runs where: one row per host and service. */
export const statusRow = z.object({
  host: z.string(),
  region: z.string(),
  online: z.boolean(),
  service: z.string(),
  active: z.number().int().nullable(),
  state: z.string(),
  staged: z.array(z.number().int()),
  port: z.number().int().nullable(),
});
export type StatusRow = z.infer<typeof statusRow>;

/** One page of status rows; `next` is the `after` (a host name) of the next page, null on the last. */
export const statusPage = z.object({ rows: z.array(statusRow), next: z.string().nullable() });

export * from './access-schemas.js';
export * from './deployment-schemas.js';
export * from './job-schemas.js';
