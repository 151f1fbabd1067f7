/** Serving chunks to the region's other agents, and, on a relay, fetching for them. */
import { readFile } from 'node:fs/promises';
import type { AgentSettings } from '../core/index.js';
import { heldBase, startPeerServer, type PeerServer } from '../distribution/index.js';
import { manifestChunks, parseManifest, type ObjectStore } from '../image/index.js';
import type { ChunkTraffic } from './chunk-traffic.js';
import type { HostLayout } from './host-layout.js';
import { advertisedUrl } from './peer-address.js';

/** A peer server, and the URL this agent tells the control plane peers reach it at. */
export interface PeerServing {
  server: PeerServer;
  url: string;
}

/** Starts serving chunks where the settings say (null: they say not to serve). */
export async function servePeers(
  settings: Pick<AgentSettings, 'server' | 'region' | 'peerListen' | 'peerUrl' | 'relay'>,
  objects: ObjectStore,
  traffic: ChunkTraffic,
  log: (msg: string) => void,
): Promise<PeerServing | null> {
  const listen = settings.peerListen;
  if (!listen) return null;
  const { origin, availability, inbound } = traffic;
  const server = await startPeerServer({
    ...listen,
    objects,
    availability,
    inbound,
    region: settings.region,
    serverKey: () => traffic.peering?.serverKey ?? null,
    relayFetch: settings.relay
      ? async (digest, size, base) => {
          // The origin source stores the chunk (see its `keep`).
          await origin.get(digest, size, undefined, await heldBase(objects, base));
          availability.add(digest);
          inbound.stored(digest);
        }
      : null,
    limiter: traffic.upload,
    onSent: (n) => traffic.countServed(n),
    log,
  });
  const url = settings.peerUrl ?? (await advertisedUrl(server.url, settings.server));
  log(`serving chunks to region ${settings.region} at ${url}${settings.relay ? ' (relay)' : ''}`);
  return { server, url };
}

/** Lets peers take chunks of the images this host already holds (after a restart). */
export async function offerHeldImages(
  imageIds: Iterable<string>,
  layout: HostLayout,
  objects: ObjectStore,
  traffic: ChunkTraffic,
): Promise<void> {
  for (const imageId of imageIds) {
    try {
      const manifest = parseManifest(JSON.parse(await readFile(layout.manifest(imageId), 'utf8')));
      const digests = manifestChunks(manifest).map((c) => c.digest);
      const held = await Promise.all(digests.map((d) => objects.has(d)));
      traffic.availability.track(imageId, digests, (i) => held[i] === true);
    } catch {
      // No manifest on disk: the image is simply not offered to peers.
    }
  }
}
