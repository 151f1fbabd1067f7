/** Images on the origin: chunk uploads (verified), manifests (checked), tags, and lookups. */
import { NotFoundError, SlipwayError } from '../../core/index.js';
import type { CreateImageRequest, Image } from '../../api/index.js';
import {
  canonicalJson,
  imageIdOf,
  manifestChunks,
  manifestSize,
  parseManifest,
} from '../../image/index.js';
import type { Store } from '../../store/index.js';
import type { Identity } from '../authz/identity.js';
import { imageView } from '../views.js';
import type { AppContext } from './context.js';

/** Finds an image by full id, unique id prefix (12+ hex digits) or tag of the service. */
export async function resolveImage(store: Store, service: string, ref: string): Promise<string> {
  if (/^[0-9a-f]{64}$/.test(ref)) {
    if (await store.images.byId(ref)) return ref;
    throw new NotFoundError('image', ref);
  }
  const tagged = await store.images.byTag(service, ref);
  if (tagged) return tagged;
  if (/^[0-9a-f]{12,63}$/.test(ref)) {
    const matches = (await store.images.list(service, 1000)).filter((i) => i.id.startsWith(ref));
    if (matches.length === 1) return matches[0]!.id;
    if (matches.length > 1) throw new SlipwayError('INVALID', `image prefix ${ref} is ambiguous`);
  }
  throw new SlipwayError(
    'NOT_FOUND',
    `no image ${JSON.stringify(ref)} for service ${service} (neither an id nor a tag)`,
    { service, ref },
  );
}

export async function getImage(store: Store, id: string): Promise<Image> {
  const img = await store.images.byId(id);
  if (!img) throw new NotFoundError('image', id);
  return imageView(img);
}

/** Which of these chunks the origin lacks; those it holds count as new for garbage collection. */
export async function missingChunks(ctx: AppContext, digests: string[]): Promise<string[]> {
  // Touched: an image about to be registered needs them, so collection must spare them.
  const present = await ctx.store.chunks.present(digests, { touch: new Date(ctx.now()) });
  return [...new Set(digests.filter((d) => !present.has(d)))];
}

/** Stores one chunk; the object store refuses bytes that do not hash to the digest. */
export async function uploadChunk(ctx: AppContext, digest: string, data: Buffer): Promise<void> {
  await ctx.objects.put(digest, data);
  await ctx.store.chunks.add(digest, data.length);
}

/** Registers an image whose chunks are all uploaded, with its tags. */
export async function registerImage(
  ctx: AppContext,
  actor: Identity,
  req: CreateImageRequest,
): Promise<Image> {
  const manifest = parseManifest(req.manifest);
  const id = imageIdOf(manifest);
  const chunks = manifestChunks(manifest);
  const present = await ctx.store.chunks.present(chunks.map((c) => c.digest));
  const missing = chunks.filter((c) => !present.has(c.digest)).map((c) => c.digest);
  if (missing.length > 0) {
    throw new SlipwayError(
      'CONFLICT',
      `${missing.length} chunk(s) of the image are not uploaded yet`,
      { missing: missing.slice(0, 100) },
    );
  }
  await ctx.uow.run(actor, async ({ tx, emit }) => {
    const existing = await tx.images.byId(id);
    if (existing && existing.service !== req.service) {
      throw new SlipwayError(
        'CONFLICT',
        `image ${id.slice(0, 12)} is already registered for service ${existing.service}`,
      );
    }
    await tx.images.add(
      {
        id,
        service: req.service,
        size: manifestSize(manifest),
        files: manifest.entries.filter((e) => e.type === 'file').length,
        chunks: chunks.length,
      },
      canonicalJson(manifest),
    );
    for (const tag of req.tags) await tx.images.setTag(req.service, tag, id);
    if (!existing) emit('image.registered', { image: id, service: req.service, tags: req.tags });
  });
  return getImage(ctx.store, id);
}

export async function tagImage(
  ctx: AppContext,
  actor: Identity,
  id: string,
  tag: string,
): Promise<Image> {
  await ctx.uow.run(actor, async ({ tx, emit }) => {
    const img = await tx.images.byId(id);
    if (!img) throw new NotFoundError('image', id);
    await tx.images.setTag(img.service, tag, img.id);
    emit('image.tagged', { image: img.id, service: img.service, tag });
  });
  return getImage(ctx.store, id);
}
