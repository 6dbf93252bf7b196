import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadAgentConfig } from '../../../host-agent/config.js';
import { backupPath, mountArgs, mountedPaths } from '../../../host-agent/stores.js';

const conf = (text: string) => {
  const file = join(mkdtempSync(join(tmpdir(), 'kvmstack-agent-conf-')), 'agent.conf');
  writeFileSync(file, text);
  return file;
};

describe('agent configuration and stores', () => {
  it('reads [agent] and every [store NAME]', () => {
    const cfg = loadAgentConfig({
      env: {},
      file: conf(
        '[agent]\napi_url = http://10.99.0.254:5000/\nhost_ip = 10.99.0.11\nheartbeat_interval = 0.5\n\n[store shared]\ntype = glusterfs\nsource = 127.0.0.1:/vol0\nmount = /var/lib/kvmstack/stores/shared\n\n[store nfs1]\ntype = nfs\nsource = filer:/export/vms\nmount = /mnt/nfs1\noptions = vers=4.2,hard\n',
      ),
    });
    assert.equal(cfg.agent.apiUrl, 'http://10.99.0.254:5000');
    assert.equal(cfg.agent.rpcListen, '10.99.0.11', 'defaults to host_ip');
    assert.equal(cfg.agent.heartbeatIntervalMs, 500);
    assert.equal(cfg.agent.selfFenceAfterMs, 12_000);
    assert.deepEqual(
      cfg.stores.map((s) => [s.name, s.type]),
      [
        ['shared', 'glusterfs'],
        ['nfs1', 'nfs'],
      ],
    );
  });

  it('refuses bad stores and options with the place named', () => {
    assert.throws(
      () => loadAgentConfig({ env: {}, file: conf('[store x]\ntype = ceph\nmount = /m\n') }),
      /\[store x\] type/,
    );
    assert.throws(
      () => loadAgentConfig({ env: {}, file: conf('[store x]\ntype = nfs\nsource = nocolon\nmount = /m\n') }),
      /\[store x\] source/,
    );
    assert.throws(
      () => loadAgentConfig({ env: {}, file: conf('[store x]\ntype = dir\nmount = relative\n') }),
      /\[store x\] mount/,
    );
    assert.throws(
      () => loadAgentConfig({ env: {}, file: conf('[agent]\ndriver = xen\n') }),
      /\[agent\] driver/,
    );
    assert.throws(
      () => loadAgentConfig({ env: {}, file: conf('[agent]\nlease_interval = 20\nself_fence_after = 12\n') }),
      /self_fence_after/,
    );
    assert.throws(
      () => loadAgentConfig({ env: {}, file: conf('[agent]\nhearbeat_interval = 2\n') }),
      /unknown option \[agent\] hearbeat_interval/,
    );
  });

  // NFS cannot be mounted on our machines (no kernel NFS): its mount command is checked here only.
  it('builds mount argument arrays: glusterfs and nfs with options, nothing for dir', () => {
    assert.deepEqual(
      mountArgs({ name: 's', type: 'glusterfs', source: '127.0.0.1:/vol0', mount: '/m', options: '' }),
      ['-t', 'glusterfs', '127.0.0.1:/vol0', '/m'],
    );
    assert.deepEqual(
      mountArgs({ name: 'n', type: 'nfs', source: 'filer:/export', mount: '/n', options: 'vers=4.2,hard' }),
      ['-t', 'nfs', '-o', 'vers=4.2,hard', 'filer:/export', '/n'],
    );
    assert.equal(mountArgs({ name: 'd', type: 'dir', source: '', mount: '/d', options: '' }), null);
  });

  it('parses mountinfo, decoding escaped spaces', () => {
    const paths = mountedPaths(
      '36 35 98:0 / /mnt/with\\040space rw,noatime master:1 - ext3 /dev/root rw\n37 35 0:5 / /var/lib/kvmstack/stores/shared rw - fuse.glusterfs 127.0.0.1:/vol0 rw\n',
    );
    assert.ok(paths.has('/mnt/with space'));
    assert.ok(paths.has('/var/lib/kvmstack/stores/shared'));
  });

  it('backs a domain up on the store of its root disk', () => {
    const stores = [
      { name: 'a', type: 'dir' as const, source: '', mount: '/sa', options: '' },
      { name: 'b', type: 'dir' as const, source: '', mount: '/sb', options: '' },
    ];
    assert.equal(backupPath(stores, 'u1', '/sb/instances/u1/disk'), '/sb/.kvmstack/domains/u1.xml');
    assert.equal(backupPath(stores, 'u1'), '/sa/.kvmstack/domains/u1.xml');
    assert.equal(backupPath([], 'u1'), null);
  });
});
