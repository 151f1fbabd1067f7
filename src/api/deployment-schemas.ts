/**
 * The wire contract of releases and deployments: what is asked, and how a deployment is shown
 * (its hosts, waves, bake and approvals). Part of schemas.ts, which re-exports it.
 */
import { z } from 'zod';
import { DEPLOYMENT_KINDS, DEPLOYMENT_STATES, HOST_STEP_STATES } from '../core/index.js';
import { digest, serviceName } from './names.js';

export const release = z.object({
  service: z.string(),
  version: z.number().int(),
  imageId: digest,
  environment: z.string(),
  createdAt: z.string(),
});
export type Release = z.infer<typeof release>;

export const deploymentKind = z.enum(DEPLOYMENT_KINDS);
export const deploymentState = z.enum(DEPLOYMENT_STATES);
export const hostStepState = z.enum(HOST_STEP_STATES);

export const createDeploymentRequest = z.object({
  service: serviceName,
  kind: deploymentKind.default('deploy'),
  environment: z.string().optional(),
  /** Image id or tag (deploy and stage). */
  image: z.string().min(1).optional(),
  /** Release to return to (rollback); default: the release before the active one. */
  toVersion: z.number().int().positive().optional(),
  /** Deploy the image of the release that last succeeded in this environment (promotion). */
  promoteFrom: z.string().min(1).max(64).optional(),
  /** Start outside the environment's windows or in a freeze, saying why (a permission of its own). */
  breakGlass: z.object({ reason: z.string().trim().min(1).max(1_000) }).optional(),
  /**
   * Cancel the deployments of this service to this environment under way or queued, instead of
   * queueing behind them.
   */
  replace: z.boolean().optional(),
});
export type CreateDeploymentRequest = z.input<typeof createDeploymentRequest>;
export const rejectRequest = z.object({ reason: z.string().trim().min(1).max(1_000) });

export const deploymentHost = z.object({
  hostId: z.string(),
  hostName: z.string(),
  region: z.string(),
  batch: z.number().int(),
  previous: z.number().int().nullable(),
  state: hostStepState,
  detail: z.string().nullable(),
  bytesDone: z.number().int().nullable(),
  bytesTotal: z.number().int().nullable(),
});
/** A metric gate's reading during a bake. */
/**
 * A wave of a deployment as planned (the view counts its gates; the stored document keeps them,
 * store/rows.ts).
 */
export const deploymentWaveFields = {
  name: z.string(),
  firstBatch: z.number().int(),
  batchCount: z.number().int(),
  failureThreshold: z.number().int(),
  bakeMs: z.number().int(),
};
export const gateReading = z.object({
  gate: z.string(),
  value: z.number().nullable(),
  ok: z.boolean(),
  problem: z.string().nullable(),
  at: z.number(),
});
export const deployment = z.object({
  id: z.string(),
  service: z.string(),
  environment: z.string(),
  kind: deploymentKind,
  release: z.number().int(),
  imageId: digest,
  state: deploymentState,
  currentBatch: z.number().int(),
  batchCount: z.number().int(),
  failureThreshold: z.number().int(),
  reason: z.string().nullable(),
  /** The approvals its environment asks for: who asked, who approved, until when (null: none). */
  approval: z
    .object({
      required: z.number().int(),
      requestedBy: z.string(),
      approvals: z.array(z.object({ by: z.string(), at: z.string() })),
      expiresAt: z.string(),
      rejected: z.object({ by: z.string(), at: z.string(), reason: z.string() }).nullable(),
    })
    .nullable()
    .default(null),
  /** While queued: the deployment it waits for (null: not queued). */
  queuedBehind: z.string().nullable().default(null),
  /** Its waves in order (empty: one wave of every batch, without a bake). */
  waves: z.array(z.object({ ...deploymentWaveFields, gates: z.number().int() })).default(() => []),
  /** While a wave bakes: which, until when, and its gates' last readings. */
  bake: z
    .object({
      wave: z.string(),
      until: z.string(),
      readings: z.array(gateReading),
    })
    .nullable()
    .default(null),
  hosts: z.array(deploymentHost),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type DeploymentView = z.infer<typeof deployment>;
/** A dry run: the deployment as it would be made, and every policy that would refuse it. */
export const deploymentPlan = z.object({ deployment, refusals: z.array(z.string()) });
