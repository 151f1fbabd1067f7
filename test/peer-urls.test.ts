/**
 * Who serves chunks to a region is the server's call: relays are named by an operator, and a
 * peer URL reaches other agents only when it is at the address its report came from (or in a
 * network the operator allowed). An agent could otherwise make itself every peer's relay, or
 * turn its region's agents against any address.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlipwayClient } from '../src/api/index.js';
import { parseCidr } from '../src/core/index.js';
import { startInProcessServer, type InProcessServer } from './helpers/in-process-server.js';

describe('peer URLs and relays', () => {
  let s: InProcessServer;
  let url: string;
  let admin: SlipwayClient;
  let joiner: SlipwayClient;

  beforeAll(async () => {
    s = await startInProcessServer({ peerNetworks: [parseCidr('192.168.50.0/24')] });
    ({ url, admin, joiner } = s);
  });
  afterAll(async () => {
    await s.stop();
  });

  async function agent(name: string, region: string, relay = false): Promise<SlipwayClient> {
    const { token } = await joiner.enroll({ name, region, labels: {}, relay });
    return new SlipwayClient({ server: url, token });
  }

  it('ignores an agent that reports itself a relay', async () => {
    const forger = await agent('forger', 'ra');
    const victim = await agent('victim', 'ra');
    await forger.agentReport({ services: [], peerUrl: 'http://127.0.0.1:7401', relay: true });
    await victim.agentReport({ services: [], peerUrl: 'http://127.0.0.1:7402' });
    const { peering } = await victim.agentGoal(-1, 0);
    expect(peering!.peers).toEqual([
      { hostId: expect.any(String), name: 'forger', url: 'http://127.0.0.1:7401', relay: false },
    ]);
    // It also gets a share of the relay's chunks like any other agent: it is not a relay.
    expect((await forger.agentGoal(-1, 0)).peering!.share).not.toBeNull();

    // The operator names the relay.
    await admin.setHostRelay('forger', true);
    const after = await victim.agentGoal(-1, 0);
    expect(after.peering!.peers.map((p) => [p.name, p.relay])).toEqual([['forger', true]]);
    expect((await forger.agentGoal(-1, 0)).peering!.share).toBeNull();
  });

  it('does not hand out a peer URL at a foreign address, and says why in the host list', async () => {
    const evil = await agent('evil', 'rb');
    const other = await agent('other', 'rb');
    await other.agentReport({ services: [] });
    for (const bad of [
      'http://169.254.169.254:80',
      'http://10.1.2.3:7401',
      'http://internal-db.example:5432',
      'http://user@127.0.0.1:7401',
      'http://127.0.0.1:7401/admin?x=1',
    ]) {
      // The report itself is taken (the host keeps deploying); only its URL is dropped.
      await expect(evil.agentReport({ services: [], peerUrl: bad })).resolves.toEqual({ ok: true });
      expect((await other.agentGoal(-1, 0)).peering!.peers, bad).toEqual([]);
      const listed = (await admin.listHosts()).find((h) => h.name === 'evil');
      expect(listed, bad).toMatchObject({ peerUrl: null, peerUrlProblem: expect.any(String) });
    }
    // Its own goal keeps coming.
    expect((await evil.agentGoal(-1, 0)).services).toEqual([]);
  });

  it('hands out an address in the operator’s allowed networks (agents behind NAT)', async () => {
    const natted = await agent('natted', 'rc');
    const other = await agent('other-c', 'rc');
    await natted.agentReport({ services: [], peerUrl: 'http://192.168.50.7:7401' });
    expect((await other.agentGoal(-1, 0)).peering!.peers.map((p) => p.url)).toEqual([
      'http://192.168.50.7:7401',
    ]);
    await natted.agentReport({ services: [], peerUrl: 'http://192.168.51.7:7401' });
    expect((await other.agentGoal(-1, 0)).peering!.peers).toEqual([]);
  });
});
