/**
 * What the server holds while its memory is read at fleet size: a service map of up to 100
 * services (each placed on one region of simulated agents, plus one service for the real
 * agent), many small distinct images, and many releases of them.
 *
 * A release is made only by a deployment (`releaseFor` in src/server/app/deployments.ts): there
 * is no API that makes one on its own. Each release here comes from a `kind: 'stage'`
 * deployment (it changes nothing that runs) of the service's next image, waited for until it
 * ends, one at a time per service as the server runs them, the services in parallel. The
 * server steps deployments at its own pace (orchestrator passes up to a second apart): 2,000
 * took 215 s over 20 services of 50 hosts and 150-165 s over 100 services of 10, hence 100.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SlipwayClient } from '../../src/api/index.js';
import { buildImage } from '../../src/cli/index.js';
import { isTerminal, sleep } from '../../src/core/index.js';
import { eachLimited } from '../fanout/sim-fleet.js';

/** The real agent's region and service (staged there, never run). */
export const AGENT_REGION = 'footprint-real';
export const STAGE_SERVICE = 'footprint-stage';

/** Services the images and releases are spread over (fewer when there are few images). */
const MAX_SERVICES = 100;
/** Images registered at once. */
const IMAGE_CONCURRENCY = 8;
/** How long one stage deployment may take before the run gives up on it. */
const DEPLOYMENT_TIMEOUT_MS = 120_000;

/** The services, regions and how the images and releases are spread. */
export interface CatalogPlan {
  /** Regions of the simulated agents, `r1..`. */
  simRegions: number;
  services: string[];
  images: number;
  releases: number;
}

/**
 * Every service gets at least two images, so that its releases can alternate between them: a
 * deployment of the image the newest release already has makes no new release.
 */
export function planCatalog(agents: number, images: number, releases: number): CatalogPlan {
  const count = Math.max(1, Math.min(MAX_SERVICES, Math.floor(images / 2), agents));
  const services = Array.from({ length: count }, (_, i) => `fp-${String(i + 1).padStart(2, '0')}`);
  return { simRegions: Math.min(agents, count), services, images, releases };
}

/** Why `planCatalog` cannot make these many releases of these many images, or null. */
export function catalogProblem(images: number, releases: number): string | null {
  if (releases > 0 && images === 0) return '--releases needs at least one image (--images)';
  if (releases > 1 && images < 2) {
    return '--releases above 1 needs --images 2 or more: consecutive releases of one service alternate images';
  }
  return null;
}

/**
 * The service map: each catalog service on one region of simulated agents, all of a deployment
 * in one batch; the stage service on the real agent's region. No command here ever runs.
 */
export function serviceMap(plan: CatalogPlan) {
  const regions = Array.from({ length: plan.simRegions }, (_, i) => `r${i + 1}`);
  const services: Record<string, unknown> = {};
  plan.services.forEach((name, i) => {
    services[name] = {
      run: ['node', 'server.js'],
      placement: { regions: [regions[i % regions.length]] },
      rollout: { batchSize: '100%' },
    };
  });
  services[STAGE_SERVICE] = {
    run: ['sleep', 'infinity'],
    placement: { regions: [AGENT_REGION] },
    rollout: { batchSize: '100%' },
  };
  return { regions: [...regions, AGENT_REGION], services };
}

/** `n` items dealt round-robin over `services`: item i goes to service i % count. */
function dealt<T>(n: number, services: readonly string[], make: (i: number, s: string) => T): T[] {
  return Array.from({ length: n }, (_, i) => make(i, services[i % services.length]!));
}

/**
 * Builds and registers `plan.images` one-file images through the CLI's own build, each with a
 * distinct file; resolves with their ids by service, in build order.
 */
export async function buildImages(
  admin: SlipwayClient,
  plan: CatalogPlan,
  log: (line: string) => void,
): Promise<Map<string, string[]>> {
  const byService = new Map<string, string[]>(plan.services.map((s) => [s, []]));
  const jobs = dealt(plan.images, plan.services, (i, service) => ({ i, service }));
  const ids: string[] = new Array<string>(jobs.length);
  const root = await mkdtemp(join(tmpdir(), 'slipway-footprint-images-'));
  let done = 0;
  try {
    await eachLimited(jobs, IMAGE_CONCURRENCY, async ({ i, service }) => {
      const tree = await mkdtemp(join(root, `image-${i}-`));
      // Distinct bytes per image: a small "build" of its own.
      await writeFile(
        join(tree, 'server.js'),
        `// ${service} build ${i}\nconsole.log(${JSON.stringify(`build ${i}`)});\n`,
      );
      ids[i] = (await buildImage(admin, tree, service, [], () => {})).imageId;
      await rm(tree, { recursive: true, force: true });
      if (++done % 50 === 0) log(`images: ${done} of ${jobs.length} registered`);
    });
  } finally {
    await rm(root, { recursive: true, force: true });
  }
  jobs.forEach(({ i, service }) => byService.get(service)!.push(ids[i]!));
  const distinct = new Set(ids).size;
  if (distinct !== ids.length) throw new Error(`${ids.length} images built, ${distinct} distinct`);
  return byService;
}

/**
 * Makes `plan.releases` releases: per service, stage deployments of its images in turn, each
 * waited for until it ends (the server runs one at a time per service anyway); the services in
 * parallel. Resolves with the releases the server lists for the catalog's services afterwards,
 * and how many deployments ended otherwise than succeeded (their releases exist all the same).
 */
export async function makeReleases(
  admin: SlipwayClient,
  plan: CatalogPlan,
  images: Map<string, string[]>,
  log: (line: string) => void,
): Promise<{ made: number; unsuccessful: number }> {
  const perService = new Map<string, number>(plan.services.map((s) => [s, 0]));
  dealt(plan.releases, plan.services, (_, s) => perService.set(s, perService.get(s)! + 1));
  let made = 0;
  let unsuccessful = 0;
  const lastLog = { at: performance.now() };
  await eachLimited(plan.services, plan.services.length, async (service) => {
    const own = images.get(service) ?? [];
    for (let k = 0; k < perService.get(service)!; k++) {
      const image = own[k % own.length]!;
      const dep = await admin.createDeployment({ service, kind: 'stage', image });
      const state = await waitForEnd(admin, dep.id);
      made++;
      if (state !== 'succeeded') unsuccessful++;
      if (performance.now() - lastLog.at > 10_000) {
        lastLog.at = performance.now();
        log(`releases: ${made} of ${plan.releases} made`);
      }
    }
  });
  let listed = 0;
  for (const service of plan.services) listed += (await admin.listReleases(service)).length;
  if (listed !== made)
    log(`${made} stage deployments made, but the server lists ${listed} releases`);
  return { made: listed, unsuccessful };
}

/** Polls a deployment until it ends; resolves with its last state. */
async function waitForEnd(admin: SlipwayClient, id: string): Promise<string> {
  const deadline = performance.now() + DEPLOYMENT_TIMEOUT_MS;
  for (let wait = 20; ; wait = Math.min(500, wait * 2)) {
    const d = await admin.getDeployment(id);
    if (isTerminal(d.state)) return d.state;
    if (performance.now() > deadline) {
      throw new Error(`deployment ${id} still ${d.state} after ${DEPLOYMENT_TIMEOUT_MS / 1000} s`);
    }
    await sleep(wait);
  }
}
