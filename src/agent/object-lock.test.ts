import { describe, expect, it } from 'vitest';
import { ObjectLock } from './object-lock.js';

const tick = () => new Promise((r) => setTimeout(r, 5));

describe('ObjectLock', () => {
  it('lets stagings share it and runs a collection only when none is in progress', async () => {
    const lock = new ObjectLock();
    const log: string[] = [];
    let endA!: () => void;
    const a = lock.withShared(async () => {
      log.push('a start');
      await new Promise<void>((r) => (endA = r));
      log.push('a end');
    });
    const b = lock.withShared(async () => {
      log.push('b');
      await tick();
    });
    await tick();
    const gc = lock.withExclusive(async () => {
      log.push('gc');
      await tick();
    });
    await tick();
    // A staging that arrives while collection waits runs after it.
    const c = lock.withShared(async () => {
      log.push('c');
      await tick();
    });
    await tick();
    expect(log).toEqual(['a start', 'b']);
    endA();
    await Promise.all([a, b, gc, c]);
    expect(log).toEqual(['a start', 'b', 'a end', 'gc', 'c']);
  });
});
