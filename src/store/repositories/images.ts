/** Registered images (manifest kept as stored) and their tags. */
import { likePrefix, type Db } from '../db.js';
import type { ImageRepository } from '../repositories.js';
import { toImage, type ImageRow } from '../rows.js';

const COLUMNS = ['id', 'service', 'size', 'files', 'chunks', 'created_at'] as const;

export class KyselyImages implements ImageRepository {
  constructor(private readonly db: Db) {}

  async add(img: Omit<ImageRow, 'createdAt' | 'tags'>, manifest: string): Promise<void> {
    await this.db
      .insertInto('images')
      .values({ ...img, manifest })
      .onConflict((oc) => oc.column('id').doNothing())
      .execute();
  }

  async byId(id: string): Promise<ImageRow | undefined> {
    const row = await this.db
      .selectFrom('images')
      .select(COLUMNS)
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toImage(row, await this.tagsOf([id]));
  }

  async manifest(id: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('images')
      .select('manifest')
      .where('id', '=', id)
      .executeTakeFirst();
    return row?.manifest;
  }

  async manifests(): Promise<string[]> {
    const rows = await this.db.selectFrom('images').select('manifest').execute();
    return rows.map((r) => r.manifest);
  }

  async list(service: string | undefined, limit: number): Promise<ImageRow[]> {
    let q = this.db.selectFrom('images').select(COLUMNS).orderBy('created_at', 'desc').limit(limit);
    if (service) q = q.where('service', '=', service);
    const rows = await q.execute();
    const tags = await this.tagsOf(rows.map((r) => r.id));
    return rows.map((r) => toImage(r, tags));
  }

  async setTag(service: string, tag: string, imageId: string): Promise<void> {
    await this.db
      .insertInto('tags')
      .values({ service, tag, image_id: imageId })
      .onConflict((oc) =>
        oc.columns(['service', 'tag']).doUpdateSet({ image_id: imageId, updated_at: new Date() }),
      )
      .execute();
  }

  async idsWithPrefix(service: string, prefix: string, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('images')
      .select('id')
      .where('service', '=', service)
      .where('id', 'like', likePrefix(prefix))
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((r) => r.id);
  }

  async byTag(service: string, tag: string): Promise<string | undefined> {
    const row = await this.db
      .selectFrom('tags')
      .select('image_id')
      .where('service', '=', service)
      .where('tag', '=', tag)
      .executeTakeFirst();
    return row?.image_id;
  }

  private async tagsOf(ids: string[]): Promise<Map<string, string[]>> {
    const map = new Map<string, string[]>();
    if (ids.length === 0) return map;
    const rows = await this.db
      .selectFrom('tags')
      .select(['image_id', 'tag'])
      .where('image_id', 'in', ids)
      .orderBy('tag')
      .execute();
    for (const r of rows) {
      const list = map.get(r.image_id) ?? [];
      list.push(r.tag);
      map.set(r.image_id, list);
    }
    return map;
  }
}
