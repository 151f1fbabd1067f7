/**
 * Semantic checks of a service map whose shape is already valid (dependencies, regions, ports),
 * dependency order, and the path notation problems use to point into the document.
 */
import type { Problem } from './errors.js';
import type { HostSelector, ServiceMap, ServiceSpec, WaveSpec } from './types.js';

/** One step of a path into a document: a map key or an array index. */
export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * Renders a path the way problems show it: `services.scores-api.after[0]`. Keys that are not
 * plain words (dots, slashes, spaces, empty) are quoted, `labels["app.io/tier"]`, so the path
 * can be read back unambiguously by {@link parsePath}.
 */
export function formatPath(segments: readonly PathSegment[]): string {
  let out = '';
  for (const seg of segments) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else if (PLAIN_KEY.test(seg)) out += out === '' ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

const TOKEN = /\.?([A-Za-z0-9_-]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]/y;

/**
 * Reads back a path written by {@link formatPath}. Stops at the first thing it cannot read and
 * returns the segments before it, which still name an ancestor of what was meant.
 */
export function parsePath(path: string): PathSegment[] {
  const segments: PathSegment[] = [];
  TOKEN.lastIndex = 0;
  while (TOKEN.lastIndex < path.length) {
    const m = TOKEN.exec(path);
    if (!m) break;
    if (m[1] !== undefined) segments.push(m[1]);
    else if (m[2] !== undefined) segments.push(Number(m[2]));
    else segments.push(JSON.parse(m[3]!) as string);
  }
  return segments;
}

function has(record: object, key: string): boolean {
  return Object.hasOwn(record, key);
}

/**
 * Checks what the schema cannot see: `after:` naming unknown services, the service itself or a
 * cycle; regions not declared in `regions:`; overrides of unknown services; two services with
 * the same fixed port that may land on one host. Returns every problem found, never stopping at
 * the first.
 */
export function checkServiceMap(map: ServiceMap): Problem[] {
  const problems: Problem[] = [];
  const add = (path: PathSegment[], message: string): void => {
    problems.push({ path: formatPath(path), message });
  };
  const declaredRegions = new Set(map.regions);
  const checkRegions = (regions: readonly string[], path: PathSegment[]): void => {
    if (declaredRegions.size === 0) return;
    regions.forEach((r, i) => {
      if (!declaredRegions.has(r)) {
        add(
          [...path, i],
          `unknown region ${JSON.stringify(r)}: regions are ${map.regions.join(', ')}`,
        );
      }
    });
  };

  const checkWaves = (waves: readonly WaveSpec[] | undefined, path: PathSegment[]): void => {
    const seen = new Set<string>();
    (waves ?? []).forEach((w, i) => {
      if (seen.has(w.name)) add([...path, i, 'name'], `two waves named ${w.name}`);
      seen.add(w.name);
      checkRegions(w.regions, [...path, i, 'regions']);
    });
  };

  for (const [name, spec] of Object.entries(map.services)) {
    checkWaves(spec.rollout.waves, ['services', name, 'rollout', 'waves']);
    if (spec.publish && spec.port !== 'dynamic') {
      add(
        ['services', name, 'publish'],
        'needs port: dynamic (two releases run side by side while the public port switches, each on a port of its own)',
      );
    }
    spec.after.forEach((dep, i) => {
      if (dep === name) add(['services', name, 'after', i], `${name} cannot run after itself`);
      else if (!has(map.services, dep)) {
        add(['services', name, 'after', i], `unknown service ${JSON.stringify(dep)}`);
      }
    });
    checkRegions(spec.placement.regions, ['services', name, 'placement', 'regions']);
  }
  for (const cycle of dependencyCycles(map)) {
    const [first, second] = cycle as [string, string];
    const index = map.services[first]!.after.indexOf(second);
    add(['services', first, 'after', index], `dependency cycle: ${cycle.join(' → ')}`);
  }
  problems.push(...portConflicts(map));
  for (const [envName, env] of Object.entries(map.environments)) {
    checkRegions(env.hosts.regions, ['environments', envName, 'hosts', 'regions']);
    for (const [service, override] of Object.entries(env.services)) {
      checkWaves(override.rollout?.waves, [
        'environments',
        envName,
        'services',
        service,
        'rollout',
        'waves',
      ]);
      if (!has(map.services, service)) {
        add(
          ['environments', envName, 'services', service],
          `unknown service ${JSON.stringify(service)}`,
        );
      }
    }
    const from = env.policy?.promoteFrom;
    if (from !== undefined && from !== null && (from === envName || !has(map.environments, from))) {
      add(
        ['environments', envName, 'policy', 'promoteFrom'],
        from === envName
          ? 'an environment cannot require promotion from itself'
          : `unknown environment ${JSON.stringify(from)}`,
      );
    }
  }
  return problems;
}

/** Dependency edges to known services other than the service itself (those are reported apart). */
function dependencies(map: ServiceMap, name: string): string[] {
  return (map.services[name]?.after ?? []).filter((d) => d !== name && has(map.services, d));
}

/**
 * The cycles of `after:`, each once, as `[a, b, …, a]` starting at its smallest name. Every
 * cycle contains a back edge of a depth-first search, so following back edges finds one cycle
 * per back edge without enumerating all cycles, which can be exponentially many.
 */
function dependencyCycles(map: ServiceMap): string[][] {
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const seen = new Set<string>();
  const cycles: string[][] = [];

  const visit = (node: string): void => {
    state.set(node, 'active');
    stack.push(node);
    for (const dep of dependencies(map, node)) {
      const s = state.get(dep);
      if (s === 'active') {
        const loop = stack.slice(stack.indexOf(dep));
        const start = loop.indexOf([...loop].sort()[0]!);
        const rotated = [...loop.slice(start), ...loop.slice(0, start)];
        const key = rotated.join('\u0000');
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push([...rotated, rotated[0]!]);
        }
      } else if (s === undefined) {
        visit(dep);
      }
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const name of Object.keys(map.services).sort()) {
    if (!state.has(name)) visit(name);
  }
  return cycles;
}

/**
 * Whether two placements may put both services on one host. Kept deliberately coarse: regions
 * overlap unless both are restricted to disjoint sets, and only a label both require with
 * different values rules a shared host out.
 */
function mayShareHost(a: HostSelector, b: HostSelector): boolean {
  const regionsOverlap =
    a.regions.length === 0 ||
    b.regions.length === 0 ||
    a.regions.some((r) => b.regions.includes(r));
  if (!regionsOverlap) return false;
  return Object.entries(a.labels).every(([k, v]) => !has(b.labels, k) || b.labels[k] === v);
}

function portConflicts(map: ServiceMap): Problem[] {
  const problems: Problem[] = [];
  const fixed = Object.values(map.services).filter(
    (s): s is ServiceSpec & { port: number } => typeof s.port === 'number',
  );
  fixed.forEach((later, j) => {
    const earlier = fixed
      .slice(0, j)
      .filter((e) => e.port === later.port && mayShareHost(e.placement, later.placement))
      .map((e) => e.name);
    if (earlier.length > 0) {
      problems.push({
        path: formatPath(['services', later.name, 'port']),
        message: `port ${later.port} is also the fixed port of ${earlier.join(', ')}, and their placements may put both on one host: use another port or "dynamic"`,
      });
    }
  });
  return problems;
}

/**
 * Services in the order they may be deployed: every service after its dependencies, ties broken
 * by name. Services caught in a cycle (which {@link checkServiceMap} reports) come last, by name.
 */
export function dependencyOrder(map: ServiceMap): string[] {
  const names = Object.keys(map.services).sort();
  const waitingOn = new Map(names.map((n) => [n, new Set(dependencies(map, n))]));
  const order: string[] = [];
  const placed = new Set<string>();
  for (;;) {
    const ready = names.find((n) => !placed.has(n) && waitingOn.get(n)!.size === 0);
    if (ready === undefined) break;
    order.push(ready);
    placed.add(ready);
    for (const deps of waitingOn.values()) deps.delete(ready);
  }
  return [...order, ...names.filter((n) => !placed.has(n))];
}
