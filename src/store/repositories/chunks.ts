/** Which chunks the origin holds, and since when (for garbage collection's grace time). */
import type { Db } from '../db.js';
import type { ChunkRepository } from '../repositories.js';

/** Digests per statement: keeps each `in (…)` list well under PostgreSQL's parameter limit. */
const BATCH = 5000;

function* batches(digests: string[]): Generator<string[]> {
  for (let i = 0; i < digests.length; i += BATCH) yield digests.slice(i, i + BATCH);
}

export class KyselyChunks implements ChunkRepository {
  constructor(private readonly db: Db) {}

  async add(digest: string, size: number): Promise<void> {
    await this.db
      .insertInto('chunks')
      .values({ digest, size })
      .onConflict((oc) => oc.column('digest').doUpdateSet({ created_at: new Date() }))
      .execute();
  }

  async present(digests: string[], opts: { touch?: Date } = {}): Promise<Set<string>> {
    const present = new Set<string>();
    for (const part of batches(digests)) {
      const rows = opts.touch
        ? await this.db
            .updateTable('chunks')
            .set({ created_at: opts.touch })
            .where('digest', 'in', part)
            .returning('digest')
            .execute()
        : await this.db.selectFrom('chunks').select('digest').where('digest', 'in', part).execute();
      for (const r of rows) present.add(r.digest);
    }
    return present;
  }

  async sizes(digests: string[]): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    for (const part of batches(digests)) {
      const rows = await this.db
        .selectFrom('chunks')
        .select(['digest', 'size'])
        .where('digest', 'in', part)
        .execute();
      for (const r of rows) sizes.set(r.digest, Number(r.size));
    }
    return sizes;
  }

  async olderThan(before: Date): Promise<{ digest: string; size: number }[]> {
    return this.db
      .selectFrom('chunks')
      .select(['digest', 'size'])
      .where('created_at', '<', before)
      .execute();
  }

  async remove(digests: string[]): Promise<void> {
    for (const part of batches(digests))
      await this.db.deleteFrom('chunks').where('digest', 'in', part).execute();
  }
}
