/** Images on the origin: chunk uploads (verified), manifests (checked), tags, and lookups. */
import { NotFoundError, SlipwayError } from '../../core/index.js';
import type { CreateImageRequest, Image } from '../../api/index.js';
import { CHUNKING, manifestChunks, manifestSize, type Manifest } from '../../image/index.js';
import type { Store } from '../../store/index.js';
import type { Identity } from '../authz/identity.js';
import { imageView } from '../views.js';
import type { AppContext } from './context.js';
import { uniquePrefixMatch } from './id-prefix.js';
import {
  canonicalManifestInSlices,
  parseManifestInSlices,
  yieldToLoop,
} from './manifest-in-slices.js';

/** Finds an image by full id, unique id prefix (12+ hex digits) or tag of the service. */
export async function resolveImage(store: Store, service: string, ref: string): Promise<string> {
  if (/^[0-9a-f]{64}$/.test(ref)) {
    if (await store.images.byId(ref)) return ref;
    throw new NotFoundError('image', ref);
  }
  const tagged = await store.images.byTag(service, ref);
  if (tagged) return tagged;
  if (/^[0-9a-f]{12,63}$/.test(ref)) {
    const id = await uniquePrefixMatch(
      {
        kind: 'image',
        minLength: 12,
        idsWithPrefix: (prefix, limit) => store.images.idsWithPrefix(service, prefix, limit),
      },
      ref,
    );
    if (id) return id;
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
  if (data.length > CHUNKING.maxSize) {
    throw new SlipwayError(
      'INVALID',
      `chunk ${digest.slice(0, 12)} is ${data.length} bytes; chunks are at most ${CHUNKING.maxSize} bytes (cut files with the image builder)`,
      { size: data.length, limit: CHUNKING.maxSize },
    );
  }
  await ctx.objects.put(digest, data);
  await ctx.store.chunks.add(digest, data.length);
}

/**
 * Registers an image whose chunks are all uploaded, with its tags. Every chunk the manifest names
 * must be at the origin with the size the manifest says (agents would refuse it only when
 * staging). The manifest is checked and serialized in slices, so other requests are answered
 * meanwhile.
 */
export async function registerImage(
  ctx: AppContext,
  actor: Identity,
  req: CreateImageRequest,
  opts: { maxEntries: number },
): Promise<Image> {
  const manifest = await parseManifestInSlices(req.manifest, opts.maxEntries);
  const chunks = checkChunkSizes(manifest);
  await yieldToLoop();
  await checkChunksAtOrigin(ctx, chunks);
  const { text, id } = await canonicalManifestInSlices(manifest);
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
      text,
    );
    for (const tag of req.tags) await tx.images.setTag(req.service, tag, id);
    if (!existing) emit('image.registered', { image: id, service: req.service, tags: req.tags });
  });
  return getImage(ctx.store, id);
}

/** Problems listed in one answer. */
const SHOWN = 100;

/** The manifest's distinct chunks, each no larger than a chunk can be, each with one size. */
function checkChunkSizes(manifest: Manifest): { digest: string; size: number }[] {
  const problems: string[] = [];
  const sizes = new Map<string, number>();
  for (const entry of manifest.entries) {
    if (entry.type !== 'file') continue;
    for (const c of entry.chunks) {
      const known = sizes.get(c.digest);
      if (known === undefined) sizes.set(c.digest, c.size);
      else if (known !== c.size)
        problems.push(`chunk ${c.digest} is declared as both ${known} and ${c.size} bytes`);
      if (c.size > CHUNKING.maxSize)
        problems.push(
          `${entry.path}: chunk ${c.digest} is declared as ${c.size} bytes; chunks are at most ${CHUNKING.maxSize}`,
        );
    }
  }
  if (problems.length > 0) {
    throw new SlipwayError(
      'INVALID',
      `invalid image manifest: ${problems.length} chunk size(s) are impossible: ${problems.slice(0, 3).join('; ')}`,
      { problems: problems.slice(0, SHOWN) },
    );
  }
  return manifestChunks(manifest);
}

/** Digests looked up per query (then a turn of the event loop). */
const LOOKUP_SLICE = 5_000;

/** Every chunk is at the origin, with exactly the size the manifest declares. */
async function checkChunksAtOrigin(
  ctx: AppContext,
  chunks: { digest: string; size: number }[],
): Promise<void> {
  const missing: string[] = [];
  const wrong: { digest: string; declared: number; stored: number }[] = [];
  for (let from = 0; from < chunks.length; from += LOOKUP_SLICE) {
    const part = chunks.slice(from, from + LOOKUP_SLICE);
    const stored = await ctx.store.chunks.sizes(part.map((c) => c.digest));
    for (const c of part) {
      const size = stored.get(c.digest);
      if (size === undefined) missing.push(c.digest);
      else if (size !== c.size) wrong.push({ digest: c.digest, declared: c.size, stored: size });
    }
    await yieldToLoop();
  }
  if (missing.length > 0) {
    throw new SlipwayError(
      'CONFLICT',
      `${missing.length} chunk(s) of the image are not uploaded yet`,
      { missing: missing.slice(0, SHOWN) },
    );
  }
  if (wrong.length > 0) {
    const w = wrong[0]!;
    throw new SlipwayError(
      'INVALID',
      `invalid image manifest: ${wrong.length} chunk(s) have another size at the origin than the manifest declares (chunk ${w.digest}: declared ${w.declared} bytes, uploaded ${w.stored}); rebuild the manifest from the files`,
      { wrong: wrong.slice(0, SHOWN) },
    );
  }
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
