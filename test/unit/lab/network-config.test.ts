import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadAgentConfig } from '../../../host-agent/config.js';
import { loadConfig } from '../../../src/common/config/load.js';
import { agentConf, apiConf, LAB_STORE_NAME } from '../../../tools/lab/config-files.js';
import { LAB_EXTERNAL_NET, LAB_PROVIDER_NET, labHost } from '../../../tools/lab/topology.js';

const h1 = labHost('/var/lib/kvmstack-lab', 1);

test("lab agents map provider:br0, external:brx and the trunk, and the API's store is the agents' store", () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvmstack-lab-net-'));
  try {
    const agentFile = join(dir, 'agent.conf');
    writeFileSync(
      agentFile,
      agentConf({
        apiUrl: 'http://10.99.0.254:5099',
        enrollmentSecret: 's',
        host: h1,
        rpcPort: 5100,
        stateDir: dir,
        storeMount: '/lab/store',
      }),
    );
    const agent = loadAgentConfig({ file: agentFile, env: {} });
    assert.deepEqual(Object.fromEntries(agent.network.bridgeMappings), { provider: 'br0', external: 'brx' });
    assert.deepEqual(Object.fromEntries(agent.network.interfaceMappings), { trunk: 'trunk0' });
    assert.equal(agent.stores[0]?.name, LAB_STORE_NAME);

    const apiFile = join(dir, 'kvmstack.conf');
    writeFileSync(
      apiFile,
      apiConf({
        dataDir: dir,
        listen: '10.99.0.254',
        port: 5099,
        enrollmentSecret: 's',
        adminPassword: 'p',
        imageStoreDir: '/lab/api-store',
      }),
    );
    const api = loadConfig({ file: apiFile, env: {} });
    assert.equal(api.network.network_vlan_ranges, 'trunk:100:199');
    assert.equal(api.network.tenant_network_type, 'vxlan');
    assert.equal(api.network.vni_ranges, '1:1000');
    assert.equal(api.image.store_dir, '/lab/api-store');
    assert.equal(api.image.store_name, LAB_STORE_NAME);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the lab's networks keep their pools clear of the fabric, the hosts, the root ns and the client", () => {
  const n = (ip: string) => Number(ip.split('.')[3]);
  const hostsMgmt = Array.from({ length: 8 }, (_, i) => n(labHost('/x', i + 1).mgmtIp));
  const hostsExt = Array.from({ length: 8 }, (_, i) => n(labHost('/x', i + 1).extIp));
  const clear = (pool: { start: string; end: string }, taken: number[]) =>
    taken.every((t) => t < n(pool.start) || t > n(pool.end));
  assert.ok(clear(LAB_PROVIDER_NET.pool, [1, 254, ...hostsMgmt]));
  assert.ok(clear(LAB_EXTERNAL_NET.pool, [1, 100, ...hostsExt]));
});
