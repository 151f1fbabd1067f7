import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError, isSlipwayError, type Problem } from '../core/index.js';
import { parseServiceMap } from '../api/service-map-schema.js';
import { locateProblems, readServiceMapFile } from './service-map-file.js';

const text = `# a broken map
regions: [us-east]
services:
  a:
    run: node a.js
    port: 70000
    after:
      - b
      - ghost
    env:
      PORT: "8080"
    health:
      http: /healthz
      timeout: 2 seconds
    rollout: { batchSize: 150% }
    replicas: 3
  b:
    run: [node, b.js]
    after: [a]
    placement:
      labels:
        app.io/tier: web
  c: {}
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'slipway-map-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function write(name: string, content: string): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, content);
  return file;
}

describe('readServiceMapFile', () => {
  it('reads a YAML document as plain data', async () => {
    const file = await write('ok.yaml', text);
    const { doc, text: read } = await readServiceMapFile(file);
    expect(read).toBe(text);
    expect((doc as { regions: string[] }).regions).toEqual(['us-east']);
  });

  it('reports YAML syntax errors with file and line', async () => {
    const file = await write(
      'bad.yaml',
      'services:\n  a:\n    run: x\n  run: y\n  a: again\n  b: [1, 2\n',
    );
    try {
      await readServiceMapFile(file);
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ValidationError);
      const problems = (e as ValidationError).problems;
      expect(problems[0]).toMatchObject({ file, line: 5 });
      expect(problems[0]!.message).toMatch(/unique/);
      expect((e as Error).message).toContain(`${file}:5: (root): Map keys must be unique`);
    }
  });

  it('says NOT_FOUND for a missing file', async () => {
    await expect(readServiceMapFile(join(dir, 'nope.yaml'))).rejects.toSatisfy((e) =>
      isSlipwayError(e, 'NOT_FOUND'),
    );
  });
});

describe('locateProblems', () => {
  const at = (problems: Problem[]): Record<string, number | undefined> =>
    Object.fromEntries(problems.map((p) => [p.path, p.line]));

  it('finds the line of every problem the server reports', async () => {
    const file = await write('broken.yaml', text);
    const { doc } = await readServiceMapFile(file);
    let problems: Problem[] = [];
    try {
      parseServiceMap(doc);
    } catch (e) {
      problems = (e as ValidationError).problems;
    }
    const located = locateProblems(text, file, problems);
    expect(located.every((p) => p.file === file)).toBe(true);
    expect(at(located)).toEqual({
      'services.a.port': 6,
      'services.a.after[1]': 9,
      'services.a.after[0]': 8,
      'services.a.env.PORT': 11,
      'services.a.health.timeout': 14,
      'services.a.rollout.batchSize': 15,
      'services.a.replicas': 16,
      // run: is missing from c, so the problem points at c.
      'services.c.run': 23,
    });
  });

  it('locates quoted keys, indices in flow lists and the root, and keeps known lines', () => {
    const located = locateProblems(text, 'slipway.yaml', [
      { path: 'services.b.placement.labels["app.io/tier"]', message: 'm' },
      { path: 'services.b.after[0]', message: 'm' },
      { path: 'services.b.after[5]', message: 'm' },
      { path: 'services.zz.run', message: 'm' },
      { path: '', message: 'm' },
      { path: 'services.a', message: 'm', line: 99, file: 'other.yaml' },
    ]);
    expect(located.map((p) => p.line)).toEqual([22, 19, 19, 3, 2, 99]);
    expect(located[5]!.file).toBe('other.yaml');
    expect(located[0]!.file).toBe('slipway.yaml');
  });

  it('follows aliases', () => {
    const yaml = 'defaults: &d\n  run: x\n  port: 0\nservices:\n  a: *d\n';
    expect(locateProblems(yaml, 'f', [{ path: 'services.a.port', message: 'm' }])[0]!.line).toBe(3);
  });
});
