import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  agentConf,
  glusterdVol,
  hostsFile,
  libvirtdConf,
  qemuConf,
  setConfValues,
  withHostsEntry,
} from '../../../tools/lab/config-files.js';
import { LAB_NS_PATTERN, labHost } from '../../../tools/lab/topology.js';

const h1 = labHost('/var/lib/kvmstack-lab', 1);
const h2 = labHost('/var/lib/kvmstack-lab', 2);

test('lab hosts get their addresses, URIs and pid files from their index', () => {
  assert.equal(h1.name, 'ks-h1');
  assert.equal(h2.mgmtIp, '10.99.0.12');
  assert.equal(h2.extIp, '192.168.50.12');
  assert.equal(h1.libvirtUri, 'qemu+tcp://10.99.0.11/system');
  assert.equal(h1.pidFile.libvirtd, '/var/lib/kvmstack-lab/hosts/ks-h1/libvirtd.pid');
  assert.ok(['ks-fab', 'ks-cli', 'ks-h1', 'ks-h12'].every((n) => LAB_NS_PATTERN.test(n)));
  assert.ok(!['ks-fabric', 'kvrh1', 'ks-h', 'x-ks-h1'].some((n) => LAB_NS_PATTERN.test(n)));
});

test('setConfValues replaces active settings, keeps comments, appends quoted values', () => {
  const base = '#listen_tcp = 1\nlisten_tcp = 0\nunix_sock_group = "libvirt"\n';
  const out = setConfValues(base, { listen_tcp: 1, auth_tcp: 'none' });
  assert.match(out, /^#listen_tcp = 1$/m);
  assert.doesNotMatch(out, /^listen_tcp = 0$/m);
  assert.match(out, /^listen_tcp = 1$/m);
  assert.match(out, /^auth_tcp = "none"$/m);
  assert.match(out, /^unix_sock_group = "libvirt"$/m);
  assert.equal(out.match(/^listen_tcp/gm)?.length, 1);
});

test('libvirtd and qemu configs of a lab host', () => {
  const conf = libvirtdConf('', h1, '11111111-2222-3333-4444-555555555555');
  assert.match(conf, /^listen_addr = "10\.99\.0\.11"$/m);
  assert.match(conf, /^host_uuid = "11111111-2222-3333-4444-555555555555"$/m);
  assert.match(conf, /^listen_tls = 0$/m);
  const qemu = qemuConf('#lock_manager = "lockd"\n', h2);
  assert.match(qemu, /^lock_manager = "lockd"$/m);
  assert.match(qemu, /^migration_host = "10\.99\.0\.12"$/m);
});

test('/etc/hosts entry is added once and removed without touching other lines', () => {
  const base = '127.0.0.1 localhost\n10.0.0.1 other # kvmstack\n';
  const once = withHostsEntry(base, true);
  assert.equal(withHostsEntry(once, true), once, 'idempotent');
  assert.match(once, /^127\.0\.0\.1 ks-gluster # kvmstack-lab$/m);
  assert.equal(withHostsEntry(once, false), base);
  assert.equal(withHostsEntry(base, false), base);
  const inside = hostsFile([h1, h2]);
  assert.match(inside, /^127\.0\.0\.1 ks-gluster$/m);
  assert.match(inside, /^10\.99\.0\.12 ks-h2$/m);
});

test('glusterd and agent configurations', () => {
  const vol = glusterdVol({ lib: '/s/lib', run: '/s/run', socket: '/s/glusterd.socket' });
  assert.match(vol, /option working-directory \/s\/lib/);
  assert.match(vol, /option glusterd-sockfile \/s\/glusterd.socket/);
  const agent = agentConf({
    apiUrl: 'http://10.99.0.254:5099',
    enrollmentSecret: 's3cret',
    host: h2,
    rpcPort: 5100,
    stateDir: '/x/agent',
    storeMount: '/var/lib/kvmstack-lab/store',
  });
  for (const line of [
    'api_url = http://10.99.0.254:5099',
    'hostname = ks-h2',
    'host_ip = 10.99.0.12',
    'rpc_listen = 10.99.0.12',
    'driver = libvirt',
    'virt_type = auto',
    '[store shared]',
    'type = glusterfs',
    'source = 127.0.0.1:/ks-shared',
    'mount = /var/lib/kvmstack-lab/store',
  ]) {
    assert.ok(agent.split('\n').includes(line), line);
  }
});

test('the agent configuration the lab writes is one the host agent loads', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { loadAgentConfig } = await import('../../../host-agent/config.js');
  const dir = mkdtempSync(join(tmpdir(), 'kvmstack-lab-agent-'));
  try {
    const file = join(dir, 'agent.conf');
    writeFileSync(
      file,
      agentConf({
        apiUrl: 'http://10.99.0.254:5099',
        enrollmentSecret: 's',
        host: h1,
        rpcPort: 5100,
        stateDir: dir,
        storeMount: '/m',
      }),
    );
    const cfg = loadAgentConfig({ file, env: {} });
    assert.equal(cfg.agent.hostIp, '10.99.0.11');
    assert.equal(cfg.agent.virtType, 'auto');
    assert.deepEqual(
      cfg.stores.map((s) => [s.name, s.type, s.source, s.mount]),
      [['shared', 'glusterfs', '127.0.0.1:/ks-shared', '/m']],
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
