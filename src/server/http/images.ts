/** Images on the origin: chunks, manifests (gzipped once per image), tags. */
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { NotFoundError, SlipwayError } from '../../core/index.js';
import { routes } from '../../api/index.js';
import { isDigest } from '../../image/index.js';
import { chunkReply, parseBase } from '../../distribution/index.js';
import type { Store } from '../../store/index.js';
import type { AppContext } from '../app/context.js';
import type { ImageAccess } from '../authz/image-access.js';
import { getImage, missingChunks, registerImage, tagImage, uploadChunk } from '../app/images.js';
import { imageView } from '../views.js';
import { addRoute, type RouteHost } from './route.js';

/**
 * Manifests kept gzipped, by image id (a manifest never changes, an image is never deleted), so
 * the store is read and the manifest compressed once per image, not once per host. Every host
 * of a deployment fetches the image's manifest: gzip halves it (hex digests), and for a small
 * update it was a tenth of what each host received (bench:fleet, 1% update: about 24 KB of
 * 266 KB).
 */
const GZIPPED_KEPT = 16;
const gzipAsync = promisify(gzip);

function gzippedManifests(store: Store): (id: string) => Promise<Buffer | null> {
  const gzipped = new Map<string, Promise<Buffer | null>>();
  /** The image's manifest gzipped; null when there is no such image (not kept: it may come). */
  return async (id) => {
    let z = gzipped.get(id);
    if (!z) {
      z = store.images.manifest(id).then((text) => (text ? gzipAsync(text) : null));
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
}

export function imageRoutes(
  host: RouteHost,
  ctx: AppContext,
  access: ImageAccess,
  opts: { maxImageEntries: number },
): void {
  const gzippedManifest = gzippedManifests(ctx.store);

  addRoute(host, routes.missingChunks, async ({ body }) => ({
    missing: await missingChunks(ctx, body.digests),
  }));

  addRoute(host, routes.putChunk, async ({ params, request }) => {
    const digest = checkedDigest(params.digest);
    if (!Buffer.isBuffer(request.body)) {
      throw new SlipwayError('INVALID', 'send the chunk as application/octet-stream');
    }
    await uploadChunk(ctx, digest, request.body);
    return { digest, size: request.body.length };
  });

  addRoute(host, routes.getChunk, async ({ identity, params, query, request, reply }) => {
    const digest = checkedDigest(params.digest);
    await access.checkChunk(identity, digest);
    if (!(await ctx.objects.has(digest))) throw new NotFoundError('chunk', digest);
    // A delta when the agent names a chunk it holds; brotli for agents on slow links.
    const { body, headers } = await chunkReply(ctx.objects, digest, {
      base: await access.allowedBases(identity, parseBase(query.base)),
      acceptEncoding: String(request.headers['accept-encoding'] ?? ''),
    });
    return reply.headers(headers).type('application/octet-stream').send(Buffer.from(body));
  });

  addRoute(host, routes.createImage, ({ identity, body }) =>
    registerImage(ctx, identity, body, { maxEntries: opts.maxImageEntries }),
  );

  addRoute(host, routes.listImages, async ({ query }) =>
    (await ctx.store.images.list(query.service, query.limit)).map(imageView),
  );

  addRoute(host, routes.getImage, ({ params }) => getImage(ctx.store, params.id ?? ''));

  addRoute(host, routes.getManifest, async ({ identity, params, request, reply }) => {
    const id = params.id ?? '';
    await access.checkImage(identity, id);
    const gzip = /\bgzip\b/.test(String(request.headers['accept-encoding'] ?? ''));
    const body = gzip ? await gzippedManifest(id) : await ctx.store.images.manifest(id);
    if (!body) throw new NotFoundError('image', id);
    reply.type('application/json').header('vary', 'accept-encoding');
    if (gzip) reply.header('content-encoding', 'gzip');
    return reply.send(body);
  });

  addRoute(host, routes.tagImage, ({ identity, params, body }) =>
    tagImage(ctx, identity, params.id ?? '', body.tag),
  );
}

function checkedDigest(d: string | undefined): string {
  if (!d || !isDigest(d))
    throw new SlipwayError('INVALID', `not a SHA-256 digest: ${JSON.stringify(d)}`);
  return d;
}
