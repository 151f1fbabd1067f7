/** Images on the origin: chunk uploads (verified), manifests (checked), tags. */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import type { FastifyInstance } from 'fastify';
import { NotFoundError, SlipwayError } from '../core/index.js';
import { routes } from '../api/index.js';
import {
  canonicalJson,
  imageIdOf,
  isDigest,
  manifestChunks,
  manifestSize,
  parseManifest,
  type ObjectStore,
} from '../image/index.js';
import { chunkReply, parseBase } from '../distribution/index.js';
import type { Store } from '../store/index.js';
import { addRoute } from './http.js';
import { imageView } from './views.js';

/**
 * Manifests kept gzipped, by image id (a manifest never changes, an image is never deleted), so
 * the store is read and the manifest compressed once per image, not once per host. Every host
 * of a deployment fetches the image's manifest: gzip halves it (hex digests), and for a small
 * update it was a tenth of what each host received (bench:fleet, 1% update: about 24 KB of
 * 266 KB).
 */
const GZIPPED_KEPT = 16;
const gzipAsync = promisify(gzip);

export function imageRoutes(app: FastifyInstance, store: Store, objects: ObjectStore): void {
  const gzipped = new Map<string, Promise<Buffer | null>>();
  /** The image's manifest gzipped; null when there is no such image (not kept: it may come). */
  const gzippedManifest = async (id: string): Promise<Buffer | null> => {
    let z = gzipped.get(id);
    if (!z) {
      z = store.manifest(id).then((text) => (text ? gzipAsync(text) : null));
      gzipped.set(id, z);
      if (gzipped.size > GZIPPED_KEPT) gzipped.delete(gzipped.keys().next().value!);
    }
    const forget = () => gzipped.get(id) === z && gzipped.delete(id);
    const body = await z.catch((e: unknown) => {
      forget();
      throw e;
    });
    if (!body) forget();
    return body;
  };

  addRoute(app, store, routes.missingChunks, async ({ body }) => {
    // Touched: an image about to be registered needs them, so collection must spare them.
    const present = await store.presentChunks(body.digests, { touch: new Date() });
    return { missing: [...new Set(body.digests.filter((d) => !present.has(d)))] };
  });

  addRoute(app, store, routes.putChunk, async ({ params, request }) => {
    const digest = checkedDigest(params.digest);
    if (!Buffer.isBuffer(request.body)) {
      throw new SlipwayError('INVALID', 'send the chunk as application/octet-stream');
    }
    await objects.put(digest, request.body); // refuses bytes that do not hash to the digest
    await store.addChunk(digest, request.body.length);
    return { digest, size: request.body.length };
  });

  addRoute(app, store, routes.getChunk, async ({ params, query, request, reply }) => {
    const digest = checkedDigest(params.digest);
    if (!(await objects.has(digest))) throw new NotFoundError('chunk', digest);
    // A delta when the agent names a chunk it holds; brotli for agents on slow links.
    const { body, headers } = await chunkReply(objects, digest, {
      base: parseBase(query.base),
      acceptEncoding: String(request.headers['accept-encoding'] ?? ''),
    });
    return reply.headers(headers).type('application/octet-stream').send(Buffer.from(body));
  });

  addRoute(app, store, routes.createImage, async ({ body }) => {
    const manifest = parseManifest(body.manifest);
    const id = imageIdOf(manifest);
    const chunks = manifestChunks(manifest);
    const present = await store.presentChunks(chunks.map((c) => c.digest));
    const missing = chunks.filter((c) => !present.has(c.digest)).map((c) => c.digest);
    if (missing.length > 0) {
      throw new SlipwayError(
        'CONFLICT',
        `${missing.length} chunk(s) of the image are not uploaded yet`,
        {
          missing: missing.slice(0, 100),
        },
      );
    }
    const existing = await store.image(id);
    if (existing && existing.service !== body.service) {
      throw new SlipwayError(
        'CONFLICT',
        `image ${id.slice(0, 12)} is already registered for service ${existing.service}`,
      );
    }
    await store.transaction(async (tx) => {
      await tx.addImage(
        {
          id,
          service: body.service,
          size: manifestSize(manifest),
          files: manifest.entries.filter((e) => e.type === 'file').length,
          chunks: chunks.length,
        },
        canonicalJson(manifest),
      );
      for (const tag of body.tags) await tx.setTag(body.service, tag, id);
    });
    return imageView((await store.image(id))!);
  });

  addRoute(app, store, routes.listImages, async ({ query }) =>
    (await store.listImages(query.service, query.limit)).map(imageView),
  );

  addRoute(app, store, routes.getImage, async ({ params }) => {
    const img = await store.image(params.id ?? '');
    if (!img) throw new NotFoundError('image', params.id ?? '');
    return imageView(img);
  });

  addRoute(app, store, routes.getManifest, async ({ params, request, reply }) => {
    const id = params.id ?? '';
    const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    const body = gzip ? await gzippedManifest(id) : await store.manifest(id);
    if (!body) throw new NotFoundError('image', id);
    reply.type('application/json').header('vary', 'accept-encoding');
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.send(body);
  });

  addRoute(app, store, routes.tagImage, async ({ params, body }) => {
    const img = await store.image(params.id ?? '');
    if (!img) throw new NotFoundError('image', params.id ?? '');
    await store.setTag(img.service, body.tag, img.id);
    return imageView((await store.image(img.id))!);
  });
}

function checkedDigest(d: string | undefined): string {
  if (!d || !isDigest(d))
    throw new SlipwayError('INVALID', `not a SHA-256 digest: ${JSON.stringify(d)}`);
  return d;
}
