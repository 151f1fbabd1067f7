import { describe, expect, it } from 'vitest';
import { checkServiceMap, dependencyOrder, formatPath, parsePath } from './service-map.js';
import type { ServiceMap, ServiceSpec } from './types.js';

function service(name: string, over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    run: { shell: 'node server.js' },
    port: null,
    env: {},
    health: null,
    after: [],
    placement: { regions: [], labels: {} },
    rollout: { batchSize: { percent: 25 }, failureThreshold: { count: 0 } },
    keepReleases: 3,
    ...over,
  };
}

function mapOf(services: ServiceSpec[], over: Partial<ServiceMap> = {}): ServiceMap {
  return {
    regions: [],
    services: Object.fromEntries(services.map((s) => [s.name, s])),
    environments: {},
    ...over,
  };
}

describe('paths', () => {
  it('formats keys with dots and indices with brackets, and reads them back', () => {
    const cases: [Array<string | number>, string][] = [
      [['services', 'scores-api', 'after', 0], 'services.scores-api.after[0]'],
      [
        ['services', 'a', 'placement', 'labels', 'app.io/tier'],
        'services.a.placement.labels["app.io/tier"]',
      ],
      [[], ''],
      [['x', 'we "ird"', 3, 'y'], 'x["we \\"ird\\""][3].y'],
    ];
    for (const [segments, text] of cases) {
      expect(formatPath(segments)).toBe(text);
      expect(parsePath(text)).toEqual(segments);
    }
  });

  it('reads the readable prefix of a malformed path', () => {
    expect(parsePath('services.a.!!.b')).toEqual(['services', 'a']);
  });
});

describe('checkServiceMap', () => {
  it('accepts a sound map', () => {
    const map = mapOf(
      [
        service('a', { port: 8080, placement: { regions: ['us-east'], labels: {} } }),
        service('b', { after: ['a'], port: 8080, placement: { regions: ['eu-west'], labels: {} } }),
        service('c', { after: ['a', 'b'], port: 9000 }),
      ],
      { regions: ['us-east', 'eu-west'] },
    );
    expect(checkServiceMap(map)).toEqual([]);
  });

  it('reports unknown and self dependencies at their index', () => {
    const map = mapOf([service('a', { after: ['x', 'a'] })]);
    expect(checkServiceMap(map)).toEqual([
      { path: 'services.a.after[0]', message: 'unknown service "x"' },
      { path: 'services.a.after[1]', message: 'a cannot run after itself' },
    ]);
  });

  it('reports each cycle once, starting from its smallest name', () => {
    const map = mapOf([
      service('c', { after: ['b'] }),
      service('b', { after: ['a', 'c'] }),
      service('a', { after: ['b'] }),
      service('d', { after: ['a'] }),
    ]);
    expect(checkServiceMap(map)).toEqual([
      { path: 'services.a.after[0]', message: 'dependency cycle: a → b → a' },
      { path: 'services.b.after[1]', message: 'dependency cycle: b → c → b' },
    ]);
  });

  it('reports a longer cycle', () => {
    const map = mapOf([
      service('x', { after: ['z'] }),
      service('y', { after: ['x'] }),
      service('z', { after: ['y'] }),
    ]);
    expect(checkServiceMap(map)).toEqual([
      { path: 'services.x.after[0]', message: 'dependency cycle: x → z → y → x' },
    ]);
  });

  it('reports regions missing from regions: only when regions are declared', () => {
    const services = [service('a', { placement: { regions: ['us-east', 'mars'], labels: {} } })];
    const environments = {
      prod: {
        name: 'prod',
        hosts: { regions: ['venus'], labels: {} },
        env: {},
        services: { a: {}, ghost: {} },
      },
    };
    expect(checkServiceMap(mapOf(services, { regions: ['us-east'], environments }))).toEqual([
      {
        path: 'services.a.placement.regions[1]',
        message: 'unknown region "mars": regions are us-east',
      },
      {
        path: 'environments.prod.hosts.regions[0]',
        message: 'unknown region "venus": regions are us-east',
      },
      { path: 'environments.prod.services.ghost', message: 'unknown service "ghost"' },
    ]);
    expect(checkServiceMap(mapOf(services, { environments }))).toEqual([
      { path: 'environments.prod.services.ghost', message: 'unknown service "ghost"' },
    ]);
  });

  it('reports a fixed port two services may share on one host', () => {
    const map = mapOf([
      service('a', { port: 8080 }),
      service('b', { port: 8080, placement: { regions: ['eu-west'], labels: {} } }),
      service('c', { port: 9090, placement: { regions: ['us-east'], labels: {} } }),
      service('d', { port: 9090, placement: { regions: ['eu-west', 'us-east'], labels: {} } }),
      service('e', { port: 7070, placement: { regions: [], labels: { role: 'web' } } }),
      service('f', { port: 7070, placement: { regions: [], labels: { role: 'db' } } }),
      service('g', { port: 'dynamic' }),
      service('h', { port: 'dynamic' }),
    ]);
    const problems = checkServiceMap(map);
    expect(problems.map((p) => p.path)).toEqual(['services.b.port', 'services.d.port']);
    expect(problems[0]!.message).toMatch(/^port 8080 is also the fixed port of a/);
  });
});

describe('dependencyOrder', () => {
  it('puts dependencies first, ties by name', () => {
    const map = mapOf([
      service('web', { after: ['api'] }),
      service('api', { after: ['db', 'cache'] }),
      service('db'),
      service('cache'),
      service('batch', { after: ['db'] }),
    ]);
    expect(dependencyOrder(map)).toEqual(['cache', 'db', 'api', 'batch', 'web']);
  });

  it('ignores unknown and self dependencies and puts cycles last', () => {
    const map = mapOf([
      service('a', { after: ['b'] }),
      service('b', { after: ['a'] }),
      service('c', { after: ['c', 'zz'] }),
    ]);
    expect(dependencyOrder(map)).toEqual(['c', 'a', 'b']);
  });
});
