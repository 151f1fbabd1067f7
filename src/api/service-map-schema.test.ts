import { describe, expect, it } from 'vitest';
import { ValidationError, type Problem, type ServiceMap } from '../core/index.js';
import { zodIssuesToProblems } from './service-map-problems.js';
import { parseServiceMap, serviceMapDocument } from './service-map-schema.js';

/** The problems `parseServiceMap` throws for `doc`, or fails the test. */
function problemsOf(doc: unknown): Problem[] {
  try {
    parseServiceMap(doc);
  } catch (e) {
    expect(e).toBeInstanceOf(ValidationError);
    return (e as ValidationError).problems;
  }
  throw new Error('expected the service map to be refused');
}

const full = {
  regions: ['us-east', 'eu-west', 'ap-south'],
  services: {
    'scores-api': {
      run: 'node server.js',
      port: 'dynamic',
      env: { LOG_LEVEL: 'info', WORKERS: 4, DEBUG: false },
      health: { http: '/healthz', timeout: '1.5s', interval: '500ms', healthyAfter: 2 },
      placement: { regions: ['us-east'], labels: { role: 'pricing', tier: 1 } },
      rollout: { batchSize: 2, failureThreshold: '10%' },
      keepReleases: 5,
    },
    'securities-api': {
      run: ['node', 'server.js'],
      port: 8443,
      after: ['scores-api'],
      health: { tcp: true },
    },
    migrator: { run: ['./migrate'], health: { command: ['./check', '--quick'] } },
  },
  environments: {
    prod: {
      hosts: { regions: ['us-east', 'eu-west'], labels: { tier: 'prod' } },
      env: { LOG_LEVEL: 'warn' },
      services: { 'scores-api': { env: { CACHE: 'on' }, rollout: { batchSize: 1 } } },
    },
    dev: {},
  },
};

describe('parseServiceMap', () => {
  it('normalizes a full example and fills defaults', () => {
    const map = parseServiceMap(full);
    const expected: ServiceMap = {
      regions: ['us-east', 'eu-west', 'ap-south'],
      services: {
        'scores-api': {
          name: 'scores-api',
          run: { shell: 'node server.js' },
          port: 'dynamic',
          env: { LOG_LEVEL: 'info', WORKERS: '4', DEBUG: 'false' },
          health: {
            probe: { kind: 'http', path: '/healthz' },
            timeoutMs: 1_500,
            intervalMs: 500,
            healthyAfter: 2,
            deadlineMs: 30_000,
          },
          after: [],
          placement: { regions: ['us-east'], labels: { role: 'pricing', tier: '1' } },
          rollout: { batchSize: { count: 2 }, failureThreshold: { percent: 10 } },
          keepReleases: 5,
        },
        'securities-api': {
          name: 'securities-api',
          run: { argv: ['node', 'server.js'] },
          port: 8443,
          env: {},
          health: {
            probe: { kind: 'tcp' },
            timeoutMs: 2_000,
            intervalMs: 1_000,
            healthyAfter: 1,
            deadlineMs: 30_000,
          },
          after: ['scores-api'],
          placement: { regions: [], labels: {} },
          rollout: { batchSize: { percent: 25 }, failureThreshold: { count: 0 } },
          keepReleases: 3,
        },
        migrator: {
          name: 'migrator',
          run: { argv: ['./migrate'] },
          port: null,
          env: {},
          health: {
            probe: { kind: 'command', run: { argv: ['./check', '--quick'] } },
            timeoutMs: 2_000,
            intervalMs: 1_000,
            healthyAfter: 1,
            deadlineMs: 30_000,
          },
          after: [],
          placement: { regions: [], labels: {} },
          rollout: { batchSize: { percent: 25 }, failureThreshold: { count: 0 } },
          keepReleases: 3,
        },
      },
      environments: {
        prod: {
          name: 'prod',
          hosts: { regions: ['us-east', 'eu-west'], labels: { tier: 'prod' } },
          env: { LOG_LEVEL: 'warn' },
          services: {
            'scores-api': { env: { CACHE: 'on' }, rollout: { batchSize: { count: 1 } } },
          },
          policy: {
            approvals: 0,
            approvalTimeoutMs: 86_400_000,
            windows: [],
            freezes: [],
            promoteFrom: null,
          },
        },
        dev: {
          name: 'dev',
          hosts: { regions: [], labels: {} },
          env: {},
          services: {},
          policy: {
            approvals: 0,
            approvalTimeoutMs: 86_400_000,
            windows: [],
            freezes: [],
            promoteFrom: null,
          },
        },
      },
    };
    expect(map).toEqual(expected);
  });

  it('fills every default of a minimal map', () => {
    expect(parseServiceMap({ services: { a: { run: 'x' } } })).toEqual({
      regions: [],
      services: {
        a: {
          name: 'a',
          run: { shell: 'x' },
          port: null,
          env: {},
          health: null,
          after: [],
          placement: { regions: [], labels: {} },
          rollout: { batchSize: { percent: 25 }, failureThreshold: { count: 0 } },
          keepReleases: 3,
        },
      },
      environments: {},
    });
  });

  it('does not share default objects between parses', () => {
    const a = parseServiceMap({ services: { a: { run: 'x' } } });
    a.services.a!.placement.regions.push('mars');
    (a.services.a!.rollout.batchSize as { percent: number }).percent = 7;
    const b = parseServiceMap({ services: { a: { run: 'x' } } });
    expect(b.services.a!.placement.regions).toEqual([]);
    expect(b.services.a!.rollout.batchSize).toEqual({ percent: 25 });
  });

  it('reports every problem of a broken map at once, each at its path', () => {
    const problems = problemsOf({
      regions: ['us-east'],
      services: {
        a: {
          run: 'node a.js',
          after: ['b', 'ghost'],
          port: 70000,
          env: { PORT: '8080', 'BAD-NAME': 'x' },
          health: { http: '/healthz', timeout: '2 seconds', interval: '100ms' },
          rollout: { batchSize: '150%' },
          replicas: 3,
        },
        b: { run: ['node', 'b.js'], after: ['a'], placement: { regions: ['mars'] } },
      },
    });
    const byPath = Object.fromEntries(problems.map((p) => [p.path, p.message]));
    expect(byPath).toEqual({
      'services.a.after[1]': 'unknown service "ghost"',
      'services.a.after[0]': 'dependency cycle: a → b → a',
      'services.a.port': 'must be a port number from 1 to 65535 or "dynamic", not number 70000',
      'services.a.env.PORT': "PORT is reserved: the agent sets it to the service's port",
      'services.a.env.BAD-NAME':
        'invalid variable name: use letters, digits and _, not starting with a digit',
      'services.a.health.timeout': 'invalid duration "2 seconds" (use e.g. 500ms, 2s, 1m)',
      'services.a.rollout.batchSize': 'invalid percentage "150%": must be from 1% to 100%',
      'services.a.replicas':
        'unknown key "replicas" (allowed keys: run, port, env, health, after, placement, rollout, keepReleases, publish, hooks)',
      'services.b.placement.regions[0]': 'unknown region "mars": regions are us-east',
    });
    expect(problems).toHaveLength(9);
  });

  it('throws one ValidationError whose message lists every problem', () => {
    try {
      parseServiceMap({ services: { a: { run: 'x', port: 0, keepReleases: 99 } } });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      const err = e as ValidationError;
      expect(err.code).toBe('INVALID');
      expect(err.message).toMatch(/^invalid service map:\n/);
      expect(err.message).toContain('services.a.port: must be a port number');
      expect(err.message).toContain('services.a.keepReleases: keepReleases must be at most 50');
      expect(err.details.problems).toEqual(err.problems);
    }
  });

  it('reports health probes: none, several, and bad values', () => {
    const problems = problemsOf({
      services: {
        a: { run: 'x', health: { timeout: '1s' } },
        b: { run: 'x', health: { http: '/', tcp: true } },
        c: { run: 'x', health: { http: 'healthz', deadline: '0s', healthyAfter: 0 } },
        d: { run: 'x', health: { tcp: true, interval: 'soon' } },
        e: { run: 'x', health: { command: [] } },
      },
    });
    expect(problems).toEqual([
      { path: 'services.a.health', message: 'needs a probe: one of http, tcp, command' },
      { path: 'services.b.health', message: 'has http and tcp: use exactly one probe' },
      {
        path: 'services.c.health.http',
        message: 'must be a path starting with /, such as /healthz',
      },
      { path: 'services.c.health.healthyAfter', message: 'healthyAfter must be at least 1' },
      { path: 'services.c.health.deadline', message: 'must be longer than 0, not "0s"' },
      {
        path: 'services.d.health.interval',
        message: 'invalid duration "soon" (use e.g. 500ms, 2s, 1m)',
      },
      {
        path: 'services.e.health.command',
        message: 'must be a non-empty list of non-empty strings',
      },
    ]);
  });

  it('reads an environment’s policy, and reports bad values in it', () => {
    const map = parseServiceMap({
      services: { a: { run: 'x' } },
      environments: {
        prod: { policy: { approvals: 2, approvalTimeout: '4h' } },
        dev: {},
      },
    });
    expect(map.environments.prod!.policy).toMatchObject({
      approvals: 2,
      approvalTimeoutMs: 14_400_000,
    });
    expect(map.environments.dev!.policy).toEqual({
      approvals: 0,
      approvalTimeoutMs: 86_400_000,
      windows: [],
      freezes: [],
      promoteFrom: null,
    });
    expect(
      problemsOf({
        services: { a: { run: 'x' } },
        environments: {
          prod: { policy: { approvals: 9, approvalTimeout: 'soon', approve: 1 } },
        },
      }),
    ).toEqual([
      { path: 'environments.prod.policy.approvals', message: 'approvals must be at most 5' },
      {
        path: 'environments.prod.policy.approvalTimeout',
        message: 'invalid duration "soon" (use e.g. 500ms, 2s, 1m)',
      },
      {
        path: 'environments.prod.policy.approve',
        message:
          'unknown key "approve" (allowed keys: approvals, approvalTimeout, windows, freezes, promoteFrom)',
      },
    ]);
  });

  it('reads deploy windows, freezes and promotion, and reports what is wrong in them', () => {
    const map = parseServiceMap({
      services: { a: { run: 'x' } },
      environments: {
        staging: {},
        prod: {
          policy: {
            windows: [
              { days: 'mon-fri', from: '17:00', to: '08:00', timezone: 'America/New_York' },
              { days: 'sat,sun', from: '00:00', to: '23:59' },
            ],
            freezes: [{ from: '2026-12-24', to: '2027-01-02T08:00:00-05:00', reason: 'year end' }],
            promoteFrom: 'staging',
          },
        },
      },
    });
    expect(map.environments.prod!.policy).toMatchObject({
      windows: [
        {
          days: ['mon', 'tue', 'wed', 'thu', 'fri'],
          fromMinute: 1020,
          toMinute: 480,
          timezone: 'America/New_York',
        },
        { days: ['sun', 'sat'], fromMinute: 0, toMinute: 1439, timezone: 'UTC' },
      ],
      freezes: [
        {
          from: Date.parse('2026-12-24'),
          to: Date.parse('2027-01-02T13:00:00Z'),
          reason: 'year end',
        },
      ],
      promoteFrom: 'staging',
    });
    expect(
      problemsOf({
        services: { a: { run: 'x' } },
        environments: {
          prod: {
            policy: {
              windows: [{ days: 'mon-funday', from: '5pm', to: '08:00', timezone: 'Mars/Olympus' }],
              freezes: [{ from: 'christmas', to: '2027-01-02' }],
              promoteFrom: 'qa',
            },
          },
        },
      }).map((p) => `${p.path}: ${p.message}`),
    ).toEqual([
      'environments.prod.policy.windows[0].days: invalid days "mon-funday" (use e.g. mon-fri, or sat,sun)',
      'environments.prod.policy.windows[0].from: from must be a time such as "17:00" (24-hour, quoted in YAML)',
      'environments.prod.policy.windows[0].timezone: unknown time zone "Mars/Olympus" (use e.g. America/New_York, Europe/London, UTC)',
      'environments.prod.policy.freezes[0].from: from must be a date such as 2026-12-24 or 2026-12-24T17:00:00-05:00, not "christmas"',
      'environments.prod.policy.freezes[0].reason: must say why, e.g. "year-end freeze"',
    ]);
    expect(
      problemsOf({
        services: { a: { run: 'x' } },
        environments: { prod: { policy: { promoteFrom: 'qa' } } },
      }),
    ).toEqual([
      { path: 'environments.prod.policy.promoteFrom', message: 'unknown environment "qa"' },
    ]);
  });

  it('reports bad names, amounts, run commands and missing keys', () => {
    const problems = problemsOf({
      services: {
        Bad_Name: { run: 'x' },
        a: {},
        b: { run: '  ', rollout: { batchSize: 0, failureThreshold: -1 } },
        c: { run: 'x', rollout: { batchSize: 'half' }, env: { X: null } },
      },
      environments: {
        Prod: {},
        qa: { services: { a: { rollout: { failureThreshold: '101%' } } } },
      },
    });
    expect(problems).toEqual([
      {
        path: 'services.Bad_Name',
        message:
          'invalid service name: use lowercase letters, digits and dashes (1-63), starting with a letter',
      },
      { path: 'services.a.run', message: 'is required: a command string or a list of arguments' },
      {
        path: 'services.b.run',
        message: 'must be a command string or a list of arguments, not the string "  "',
      },
      {
        path: 'services.b.rollout.batchSize',
        message:
          'invalid amount 0: use a whole number of hosts (1 or more) or a percentage such as 25%',
      },
      {
        path: 'services.b.rollout.failureThreshold',
        message:
          'invalid amount -1: use a whole number of hosts (0 or more) or a percentage such as 25%',
      },
      { path: 'services.c.env.X', message: 'must be a string, number or boolean, not empty' },
      {
        path: 'services.c.rollout.batchSize',
        message:
          'invalid amount "half": use a whole number of hosts (1 or more) or a percentage such as 25%',
      },
      {
        path: 'environments.Prod',
        message:
          'invalid environment name: use lowercase letters, digits and dashes (1-63), starting with a letter',
      },
      {
        path: 'environments.qa.services.a.rollout.failureThreshold',
        message: 'invalid percentage "101%": must be from 0% to 100%',
      },
    ]);
  });

  it('reports a document that is not a mapping, or has no services', () => {
    expect(problemsOf(null)).toEqual([{ path: '', message: 'must be a mapping, not empty' }]);
    expect(problemsOf({ regions: 'us-east' })).toEqual([
      { path: 'regions', message: 'must be a list of regions, not the string "us-east"' },
      { path: 'services', message: 'is required: a mapping of service names to services' },
    ]);
  });

  it('runs the semantic checks on a map whose shape is valid', () => {
    expect(
      problemsOf({
        services: { a: { run: 'x', port: 80 }, b: { run: 'y', port: 80 } },
        environments: { prod: { services: { c: { env: { A: '1' } } } } },
      }).map((p) => p.path),
    ).toEqual(['services.b.port', 'environments.prod.services.c']);
  });
});

describe('zodIssuesToProblems', () => {
  it('splits unknown keys, one problem per key, and renders paths', () => {
    const r = serviceMapDocument.safeParse({ services: { a: { run: 'x', foo: 1, bar: 2 } } });
    expect(r.success).toBe(false);
    const problems = zodIssuesToProblems(r.error!.issues);
    expect(problems.map((p) => p.path)).toEqual(['services.a.foo', 'services.a.bar']);
  });

  it('says a missing key is required', () => {
    expect(
      zodIssuesToProblems([
        {
          code: 'invalid_type',
          expected: 'string',
          path: ['a', 0, 'b.c'],
          message: 'Invalid input: expected string, received undefined',
        },
      ]),
    ).toEqual([{ path: 'a[0]["b.c"]', message: 'is required' }]);
  });
});

describe('rollout waves', () => {
  const withWaves = (waves: unknown, regions: string[] = []) =>
    parseServiceMap({ regions, services: { web: { run: 'x', rollout: { waves } } } });

  it('reads waves with their hosts, regions, batches, bakes and gates', () => {
    const map = withWaves(
      [
        { name: 'canary', hosts: 1, bake: '5m' },
        {
          name: 'first-region',
          regions: ['ap-south'],
          batchSize: '25%',
          bake: '10m',
          gates: [
            { prometheus: { url: 'http://prom:9090', query: 'sum(rate(errors[1m]))', max: 0.01 } },
            { http: { url: 'https://metrics.internal/latency', max: 250, min: 1 } },
          ],
        },
        { name: 'rest', batchSize: '20%', failureThreshold: '10%' },
      ],
      ['ap-south', 'eu'],
    );
    expect(map.services.web!.rollout.waves).toEqual([
      {
        name: 'canary',
        hosts: { count: 1 },
        regions: [],
        batchSize: null,
        failureThreshold: null,
        bakeMs: 300_000,
        gates: [],
      },
      {
        name: 'first-region',
        hosts: null,
        regions: ['ap-south'],
        batchSize: { percent: 25 },
        failureThreshold: null,
        bakeMs: 600_000,
        gates: [
          {
            kind: 'prometheus',
            url: 'http://prom:9090',
            query: 'sum(rate(errors[1m]))',
            min: null,
            max: 0.01,
          },
          { kind: 'http', url: 'https://metrics.internal/latency', min: 1, max: 250 },
        ],
      },
      {
        name: 'rest',
        hosts: null,
        regions: [],
        batchSize: { percent: 20 },
        failureThreshold: { percent: 10 },
        bakeMs: 0,
        gates: [],
      },
    ]);
  });

  it('stages all hosts first, or each wave just before it starts', () => {
    const map = parseServiceMap({
      services: { web: { run: 'x', rollout: { waves: [{ name: 'a' }], stage: 'per-wave' } } },
    });
    expect(map.services.web!.rollout.stage).toBe('per-wave');
    expect(() =>
      parseServiceMap({ services: { web: { run: 'x', rollout: { stage: 'later' } } } }),
    ).toThrow(/per-wave/);
  });

  it('says what is wrong with a wave, and where', () => {
    const problems = (waves: unknown, regions: string[] = []) => {
      try {
        withWaves(waves, regions);
        return [];
      } catch (e) {
        return (e as { problems: { path: string; message: string }[] }).problems;
      }
    };
    expect(problems([{ name: 'a', gates: [{ http: { url: 'ftp://x', max: 1 } }] }])).toEqual([
      {
        path: 'services.web.rollout.waves[0].gates[0].http.url',
        message: 'must be an http:// or https:// URL',
      },
    ]);
    expect(
      problems([{ name: 'a', gates: [{ prometheus: { url: 'http://p', query: 'up' } }] }]),
    ).toEqual([
      {
        path: 'services.web.rollout.waves[0].gates[0].prometheus',
        message: 'give max, min or both: the bounds the reading must stay within',
      },
    ]);
    expect(problems([{ name: 'a', bake: 'soon' }])[0]).toMatchObject({
      path: 'services.web.rollout.waves[0].bake',
    });
    expect(problems([{ name: 'a' }, { name: 'a', regions: ['mars'] }], ['eu'])).toEqual([
      { path: 'services.web.rollout.waves[1].name', message: 'two waves named a' },
      {
        path: 'services.web.rollout.waves[1].regions[0]',
        message: 'unknown region "mars": regions are eu',
      },
    ]);
  });
});
