/**
 * What the repositories hand out. JSON columns are parsed and checked here, at the store's
 * boundary, so the layers above never see a shape the database merely claims to have.
 */
import { z } from 'zod';
import {
  SlipwayError,
  type Deployment,
  type DeploymentHost,
  type HostInfo,
  type HostStepState,
  type ServiceMap,
} from '../core/index.js';
import * as api from '../api/index.js';
import type { Database } from './schema.js';

export interface HostRow extends HostInfo {
  createdAt: Date;
  lastSeenAt: Date | null;
  /** The host's last report; null when it never reported (or what is stored does not parse). */
  report: api.HostReport | null;
  bytesReceived: Record<string, number>;
  goalGeneration: number;
  /** Named as its region's relay by an operator. */
  relay: boolean;
}

export interface ImageRow {
  id: string;
  service: string;
  size: number;
  files: number;
  chunks: number;
  createdAt: Date;
  tags: string[];
}

export interface ReleaseRow {
  service: string;
  version: number;
  imageId: string;
  environment: string;
  /** The service's effective configuration in its environment when the release was made. */
  config: z.output<typeof api.serviceSpec>;
  createdAt: Date;
}

export interface DeploymentRow {
  deployment: Deployment;
  imageId: string;
  createdAt: Date;
  updatedAt: Date;
}

export interface GoalRow {
  hostId: string;
  service: string;
  stageVersion: number | null;
  activeVersion: number | null;
}

/** A host's goal generation with its goal rows as of that generation, read together. */
export interface HostGoals {
  id: string;
  goalGeneration: number;
  /** By service. */
  goals: GoalRow[];
}

export interface ServiceMapRow {
  version: number;
  appliedAt: Date;
  /** The document as the operator wrote it. */
  document: unknown;
  map: ServiceMap;
}

export interface EventRow {
  id: number;
  at: Date;
  deploymentId: string | null;
  type: string;
  /** Who caused it: `user:admin`, `agent:<host>`, `system:orchestrator`… */
  actor: string | null;
  data: Record<string, unknown>;
}

export interface NewEvent {
  deploymentId: string | null;
  type: string;
  actor?: string | null;
  data: Record<string, unknown>;
}

/**
 * The persisted deployment state machine document, but its hosts: those are rows of their own
 * (`deployment_hosts`), so that a step writes the hosts it moved.
 */
export const deploymentDoc = z.object({
  id: z.string(),
  service: z.string(),
  environment: z.string(),
  kind: api.deploymentKind,
  release: z.number().int(),
  state: api.deploymentState,
  currentBatch: z.number().int(),
  batchCount: z.number().int(),
  failureThreshold: z.number().int(),
  deadline: z.number().nullable(),
  reason: z.string().nullable(),
  cancelRequested: z.boolean(),
  pauseRequested: z.boolean().optional(),
  pausedBy: z.literal('window').nullable().optional(),
  windowOverridden: z.boolean().optional(),
  queuedBehind: z.string().nullable().optional(),
  stagePerWave: z.boolean().optional(),
  approval: z
    .object({
      required: z.number().int(),
      requestedBy: z.string(),
      approvals: z.array(z.object({ by: z.string(), at: z.number() })),
      expiresAt: z.number(),
      rejected: z.object({ by: z.string(), at: z.number(), reason: z.string() }).nullable(),
    })
    .nullable()
    .default(null),
  waves: z
    .array(z.object({ ...api.deploymentWaveFields, gates: z.array(api.gateSpec) }))
    .optional(),
  bake: z
    .object({ wave: z.number().int(), until: z.number(), readings: z.array(api.gateReading) })
    .nullable()
    .optional(),
});

const stringRecord = z.record(z.string(), z.string());
const countRecord = z.record(z.string(), z.number());
const eventData = z.record(z.string(), z.unknown());

/**
 * Parses a JSON column with its schema; a row that does not match is a corrupt database, said
 * with the table and key so an operator can find it.
 */
export function checked<S extends z.ZodType>(
  schema: S,
  value: unknown,
  where: string,
): z.output<S> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new SlipwayError(
    'INTERNAL',
    `stored ${where} does not have the expected shape: ${parsed.error.issues
      .slice(0, 3)
      .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
      .join('; ')}`,
  );
}

export function toHost(r: {
  id: string;
  name: string;
  region: string;
  labels: unknown;
  created_at: Date;
  last_seen_at: Date | null;
  report: unknown;
  bytes_received: unknown;
  goal_generation: string | number;
  relay: boolean;
}): HostRow {
  // A report is what an agent said: one that no longer parses (an older agent) is no report.
  const report = r.report === null ? null : api.hostReport.safeParse(r.report);
  return {
    id: r.id,
    name: r.name,
    region: r.region,
    labels: checked(stringRecord, r.labels, `labels of host ${r.name}`),
    createdAt: r.created_at,
    lastSeenAt: r.last_seen_at,
    report: report?.success ? report.data : null,
    bytesReceived: checked(countRecord, r.bytes_received, `bytes received of host ${r.name}`),
    goalGeneration: Number(r.goal_generation),
    relay: r.relay,
  };
}

export function toImage(
  r: {
    id: string;
    service: string;
    size: string | number;
    files: number;
    chunks: number;
    created_at: Date;
  },
  tags: ReadonlyMap<string, string[]>,
): ImageRow {
  return {
    id: r.id,
    service: r.service,
    size: Number(r.size),
    files: r.files,
    chunks: r.chunks,
    createdAt: r.created_at,
    tags: tags.get(r.id) ?? [],
  };
}

export function toRelease(r: {
  service: string;
  version: number;
  image_id: string;
  environment: string;
  config: unknown;
  created_at: Date;
}): ReleaseRow {
  return {
    service: r.service,
    version: r.version,
    imageId: r.image_id,
    environment: r.environment,
    config: checked(api.serviceSpec, r.config, `config of release ${r.service} v${r.version}`),
    createdAt: r.created_at,
  };
}

export function toDeployment(
  r: {
    id: string;
    doc: unknown;
    image_id: string;
    created_at: Date;
    updated_at: Date;
  },
  hosts: readonly DeploymentHostRecord[],
): DeploymentRow {
  const head = checked(deploymentDoc, r.doc, `deployment ${r.id}`);
  return {
    deployment: { ...head, hosts: hosts.map((h) => toDeploymentHost(h, r.id)) },
    imageId: r.image_id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** A `deployment_hosts` row as read (its deployment and order aside). */
export type DeploymentHostRecord = Omit<Database['deployment_hosts'], 'deployment_id' | 'ord'>;

const HOST_STEP_STATES: ReadonlySet<string> = new Set(api.hostStepState.options);

/** Checked by hand, not by a schema: a deployment's view reads 10,000 of these. */
function toDeploymentHost(r: DeploymentHostRecord, deployment: string): DeploymentHost {
  if (!HOST_STEP_STATES.has(r.state))
    throw new SlipwayError(
      'INTERNAL',
      `stored host ${r.host_name} of deployment ${deployment} has an unknown state ${JSON.stringify(r.state)}`,
    );
  return {
    hostId: r.host_id,
    hostName: r.host_name,
    region: r.region,
    batch: r.batch,
    previous: r.previous,
    state: r.state as HostStepState,
    detail: r.detail,
  };
}

export function toGoal(r: {
  host_id: string;
  service: string;
  stage_version: number | null;
  active_version: number | null;
}): GoalRow {
  return {
    hostId: r.host_id,
    service: r.service,
    stageVersion: r.stage_version,
    activeVersion: r.active_version,
  };
}

export function toServiceMap(r: {
  version: number;
  applied_at: Date;
  document: unknown;
  normalized: unknown;
}): ServiceMapRow {
  return {
    version: r.version,
    appliedAt: r.applied_at,
    document: r.document,
    map: checked(api.normalizedServiceMap, r.normalized, `service map v${r.version}`),
  };
}

export function toEvent(r: {
  id: string | number;
  at: Date;
  deployment_id: string | null;
  type: string;
  actor: string | null;
  data: unknown;
}): EventRow {
  return {
    id: Number(r.id),
    at: r.at,
    deploymentId: r.deployment_id,
    type: r.type,
    actor: r.actor,
    data: checked(eventData, r.data, `data of event ${String(r.id)}`),
  };
}
