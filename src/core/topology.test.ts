import { describe, expect, it } from 'vitest';
import { isSlipwayError } from './errors.js';
import {
  effectiveConfig,
  environmentNames,
  matchesSelector,
  resolveEnvironment,
  targetHosts,
} from './topology.js';
import type { EnvironmentSpec, HostInfo, ServiceMap, ServiceSpec } from './types.js';

function service(name: string, over: Partial<ServiceSpec> = {}): ServiceSpec {
  return {
    name,
    run: { argv: ['node', 'server.js'] },
    port: 'dynamic',
    env: { LOG_LEVEL: 'info', REGION_HINT: 'any' },
    health: null,
    after: [],
    placement: { regions: [], labels: {} },
    rollout: { batchSize: { percent: 25 }, failureThreshold: { count: 0 } },
    keepReleases: 3,
    ...over,
  };
}

function env(name: string, over: Partial<EnvironmentSpec> = {}): EnvironmentSpec {
  return { name, hosts: { regions: [], labels: {} }, env: {}, services: {}, ...over };
}

function host(name: string, region: string, labels: Record<string, string> = {}): HostInfo {
  return { id: `id-${name}`, name, region, labels };
}

const hosts = [
  host('nyc-2', 'us-east', { role: 'pricing', tier: 'prod' }),
  host('ldn-1', 'eu-west', { role: 'pricing', tier: 'prod' }),
  host('nyc-1', 'us-east', { role: 'pricing', tier: 'prod' }),
  host('nyc-3', 'us-east', { role: 'web', tier: 'prod' }),
  host('dev-1', 'us-east', { role: 'pricing', tier: 'dev' }),
  host('mum-1', 'ap-south', { role: 'pricing', tier: 'prod' }),
];

const map: ServiceMap = {
  regions: ['us-east', 'eu-west', 'ap-south'],
  services: {
    pricing: service('pricing', {
      placement: { regions: ['us-east', 'eu-west'], labels: { role: 'pricing' } },
    }),
    web: service('web', { placement: { regions: [], labels: { role: 'web' } } }),
  },
  environments: {
    prod: env('prod', {
      hosts: { regions: [], labels: { tier: 'prod' } },
      env: { LOG_LEVEL: 'warn', STAGE: 'prod' },
      services: {
        pricing: { env: { STAGE: 'prod-pricing' }, rollout: { batchSize: { count: 1 } } },
      },
    }),
    dev: env('dev', { hosts: { regions: ['us-east'], labels: { tier: 'dev' } } }),
  },
};

const names = (hs: HostInfo[]): string[] => hs.map((h) => h.name);

describe('matchesSelector', () => {
  const h = host('a', 'us-east', { role: 'pricing', zone: 'b' });
  it('selects everything when empty', () => {
    expect(matchesSelector(h, { regions: [], labels: {} })).toBe(true);
  });
  it('requires one of the regions', () => {
    expect(matchesSelector(h, { regions: ['eu-west', 'us-east'], labels: {} })).toBe(true);
    expect(matchesSelector(h, { regions: ['eu-west'], labels: {} })).toBe(false);
  });
  it('requires every label', () => {
    expect(matchesSelector(h, { regions: [], labels: { role: 'pricing', zone: 'b' } })).toBe(true);
    expect(matchesSelector(h, { regions: [], labels: { role: 'pricing', zone: 'c' } })).toBe(false);
    expect(matchesSelector(h, { regions: [], labels: { rack: '1' } })).toBe(false);
  });
});

describe('targetHosts', () => {
  it('intersects the environment and the placement, sorted by region then name', () => {
    expect(names(targetHosts(map, 'pricing', 'prod', hosts))).toEqual(['ldn-1', 'nyc-1', 'nyc-2']);
    expect(names(targetHosts(map, 'pricing', 'dev', hosts))).toEqual(['dev-1']);
    expect(names(targetHosts(map, 'web', 'prod', hosts))).toEqual(['nyc-3']);
    expect(targetHosts(map, 'web', 'dev', hosts)).toEqual([]);
  });

  it('keeps the extra fields of the hosts given', () => {
    const rows = hosts.map((h) => ({ ...h, online: true }));
    expect(targetHosts(map, 'web', 'prod', rows)[0]?.online).toBe(true);
  });

  it('selects every host in the implicit default environment', () => {
    const bare: ServiceMap = { ...map, environments: {} };
    expect(names(targetHosts(bare, 'pricing', 'default', hosts))).toEqual([
      'ldn-1',
      'dev-1',
      'nyc-1',
      'nyc-2',
    ]);
  });

  it('refuses unknown services and environments', () => {
    expect(() => targetHosts(map, 'nope', 'prod', hosts)).toThrow(/service "nope" not found/);
    expect(() => targetHosts(map, 'web', 'qa', hosts)).toThrow(/environment "qa" not found/);
  });
});

describe('effectiveConfig', () => {
  it('merges service env < environment env < per-service override, and the override rollout', () => {
    const c = effectiveConfig(map, 'pricing', 'prod');
    expect(c.env).toEqual({ LOG_LEVEL: 'warn', REGION_HINT: 'any', STAGE: 'prod-pricing' });
    expect(c.rollout).toEqual({ batchSize: { count: 1 }, failureThreshold: { count: 0 } });
    expect(c.name).toBe('pricing');
    expect(c.placement).toEqual(map.services.pricing!.placement);
  });

  it('applies only the environment env to services without an override', () => {
    const c = effectiveConfig(map, 'web', 'prod');
    expect(c.env).toEqual({ LOG_LEVEL: 'warn', REGION_HINT: 'any', STAGE: 'prod' });
    expect(c.rollout).toEqual(map.services.web!.rollout);
  });

  it('returns a copy the caller may change', () => {
    const c = effectiveConfig(map, 'web', 'dev');
    c.env.X = '1';
    c.placement.labels.y = '2';
    c.rollout.batchSize = { count: 9 };
    expect(map.services.web!.env.X).toBeUndefined();
    expect(map.services.web!.placement.labels.y).toBeUndefined();
    expect(map.services.web!.rollout.batchSize).toEqual({ percent: 25 });
  });
});

describe('resolveEnvironment', () => {
  it('finds a named environment', () => {
    expect(resolveEnvironment(map, 'dev').name).toBe('dev');
  });

  it('takes the only environment when none is named', () => {
    const one: ServiceMap = { ...map, environments: { prod: map.environments.prod! } };
    expect(resolveEnvironment(one, undefined).name).toBe('prod');
  });

  it('uses the implicit default environment when the map has none', () => {
    const bare: ServiceMap = { ...map, environments: {} };
    const expected = env('default');
    expect(resolveEnvironment(bare, undefined)).toEqual(expected);
    expect(resolveEnvironment(bare, 'default')).toEqual(expected);
    expect(environmentNames(bare)).toEqual(['default']);
  });

  it('requires a name when there are several', () => {
    expect(environmentNames(map)).toEqual(['dev', 'prod']);
    try {
      resolveEnvironment(map, undefined);
      expect.unreachable();
    } catch (e) {
      expect(isSlipwayError(e, 'INVALID')).toBe(true);
      expect((e as Error).message).toBe('--env is required: one of dev, prod');
    }
  });

  it('refuses an unknown name with NOT_FOUND', () => {
    for (const m of [map, { ...map, environments: {} }]) {
      try {
        resolveEnvironment(m, 'staging');
        expect.unreachable();
      } catch (e) {
        expect(isSlipwayError(e, 'NOT_FOUND')).toBe(true);
      }
    }
    // Inherited properties of plain objects are not environments.
    expect(() => resolveEnvironment(map, 'toString')).toThrow(/not found/);
  });
});
