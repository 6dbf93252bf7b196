/**
 * The real network clients against `kvmstack up --api-only`: python-openstackclient's `openstack network |
 * subnet | port` commands and the legacy `neutron` CLI (neutronclient 8.1) on the same objects.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { exec, startKvmstack, type Env, type ExecResult, type Kvmstack } from './support.js';

type Row = Record<string, unknown>;
const uniq = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2, 8)}`;

describe('openstack and neutron CLIs: networks, subnets, ports', { timeout: 300_000 }, () => {
  let cloud: Kvmstack;
  /** `neutron ...args -f json` (it prints a deprecation warning on stderr). */
  const neutron = async (args: string[]): Promise<unknown> => {
    const r = await exec('neutron', [...args, '-f', 'json'], { env: cloud.env, timeoutMs: 60_000 });
    assert.equal(r.code, 0, `neutron ${args.join(' ')}: ${r.stderr}\n${r.stdout}`);
    return JSON.parse(r.stdout);
  };

  before(async () => {
    cloud = await startKvmstack();
  });
  after(() => cloud?.stop());

  it('network create/list/show/set/delete, with provider, external and shared networks', async () => {
    const name = uniq('net');
    const n = await cloud.run<Row>(['network', 'create', name, '--description', 'e2e']);
    assert.equal(n.name, name);
    assert.equal(n.status, 'ACTIVE');
    assert.equal(n.provider_network_type ?? n['provider:network_type'], 'vlan');
    const vlan = await cloud.run<Row>([
      'network',
      'create',
      uniq('vlan'),
      '--provider-network-type',
      'vlan',
      '--provider-physical-network',
      'physnet1',
      '--provider-segment',
      '100',
    ]);
    assert.equal(Number(vlan.provider_segmentation_id ?? vlan['provider:segmentation_id']), 100);
    const dup = await cloud.attempt([
      'network',
      'create',
      uniq('vlan'),
      '--provider-network-type',
      'vlan',
      '--provider-physical-network',
      'physnet1',
      '--provider-segment',
      '100',
    ]);
    assert.notEqual(dup.code, 0);
    assert.match(dup.stderr, /VLAN 100 on physical network physnet1 is in use/);
    const ext = await cloud.run<Row>(['network', 'create', uniq('ext'), '--external', '--share']);
    assert.equal(ext['router:external'] ?? ext.is_router_external, true);
    assert.equal(ext.shared ?? ext.is_shared, true);
    const list = await cloud.run<Row[]>(['network', 'list']);
    for (const x of [n, vlan, ext])
      assert.ok(
        list.some((r) => r.ID === x.id),
        `${String(x.id)} listed`,
      );
    const external = await cloud.run<Row[]>(['network', 'list', '--external']);
    assert.deepEqual(
      external.map((r) => r.ID),
      [ext.id],
    );
    await cloud.run(['network', 'set', '--name', `${name}-2`, '--mtu', '1400', '--tag', 'blue', name]);
    const shown = await cloud.run<Row>(['network', 'show', `${name}-2`]);
    assert.equal(shown.mtu, 1400);
    assert.deepEqual(shown.tags, ['blue']);
    for (const x of [vlan, ext]) await cloud.run(['network', 'delete', x.id as string]);
    await cloud.run(['network', 'delete', `${name}-2`]);
    const gone = await cloud.attempt(['network', 'show', `${name}-2`]);
    assert.notEqual(gone.code, 0);
  });

  it('subnet create/list/show/set/delete and port create/list/show/set/delete', async () => {
    const net = await cloud.run<Row>(['network', 'create', uniq('pnet')]);
    const sname = uniq('sub');
    const s = await cloud.run<Row>([
      'subnet',
      'create',
      sname,
      '--network',
      net.id as string,
      '--subnet-range',
      '192.168.50.0/24',
      '--allocation-pool',
      'start=192.168.50.10,end=192.168.50.100',
      '--gateway',
      '192.168.50.1',
      '--dns-nameserver',
      '9.9.9.9',
    ]);
    assert.equal(s.cidr, '192.168.50.0/24');
    assert.equal(s.gateway_ip, '192.168.50.1');
    assert.match(
      JSON.stringify(s.allocation_pools),
      /192\.168\.50\.10-192\.168\.50\.100|"start":\s*"192\.168\.50\.10"/,
    );
    const bad = await cloud.attempt([
      'subnet',
      'create',
      uniq('bad'),
      '--network',
      net.id as string,
      '--subnet-range',
      '192.168.50.128/25',
    ]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /overlaps with another subnet/);
    const subnets = await cloud.run<Row[]>(['subnet', 'list', '--network', net.id as string]);
    assert.deepEqual(
      subnets.map((r) => r.ID),
      [s.id],
    );
    await cloud.run(['subnet', 'set', '--name', `${sname}-2`, '--dns-nameserver', '1.1.1.1', sname]);
    const s2 = await cloud.run<Row>(['subnet', 'show', `${sname}-2`]);
    assert.match(JSON.stringify(s2.dns_nameservers), /1\.1\.1\.1/);

    const pname = uniq('port');
    const p = await cloud.run<Row>([
      'port',
      'create',
      pname,
      '--network',
      net.id as string,
      '--fixed-ip',
      `subnet=${s.id as string},ip-address=192.168.50.77`,
      '--mac-address',
      'fa:16:3e:12:34:56',
    ]);
    assert.equal(p.mac_address, 'fa:16:3e:12:34:56');
    assert.match(JSON.stringify(p.fixed_ips), /192\.168\.50\.77/);
    assert.equal(p.status, 'DOWN');
    const auto = await cloud.run<Row>(['port', 'create', uniq('port'), '--network', net.id as string]);
    assert.match(JSON.stringify(auto.fixed_ips), /192\.168\.50\.10\b/);
    const taken = await cloud.attempt([
      'port',
      'create',
      uniq('port'),
      '--network',
      net.id as string,
      '--fixed-ip',
      'ip-address=192.168.50.77',
    ]);
    assert.notEqual(taken.code, 0);
    assert.match(taken.stderr, /already allocated/);
    const ports = await cloud.run<Row[]>(['port', 'list', '--network', net.id as string]);
    assert.equal(ports.length, 2);
    await cloud.run([
      'port',
      'set',
      '--name',
      `${pname}-2`,
      '--no-security-group',
      '--disable-port-security',
      pname,
    ]);
    const p2 = await cloud.run<Row>(['port', 'show', `${pname}-2`]);
    assert.equal(p2.port_security_enabled, false);
    const inUse = await cloud.attempt(['network', 'delete', net.id as string]);
    assert.notEqual(inUse.code, 0);
    await cloud.run(['port', 'delete', `${pname}-2`, auto.id as string]);
    await cloud.run(['subnet', 'delete', `${sname}-2`]);
    await cloud.run(['network', 'delete', net.id as string]);
  });

  it('the neutron CLI sees and makes the same objects', async () => {
    const name = uniq('nnet');
    const n = (await neutron(['net-create', name])) as Row;
    assert.equal(n.name, name);
    const s = (await neutron(['subnet-create', '--name', uniq('nsub'), name, '172.16.5.0/24'])) as Row;
    assert.equal(s.cidr, '172.16.5.0/24');
    const p = (await neutron(['port-create', name, '--name', uniq('nport')])) as Row;
    assert.match(JSON.stringify(p.fixed_ips), /172\.16\.5\.2/);
    const nets = (await neutron(['net-list'])) as Row[];
    assert.ok(nets.some((r) => r.id === n.id));
    const ports = (await neutron(['port-list'])) as Row[];
    assert.ok(ports.some((r) => r.id === p.id));
    const viaOsc = await cloud.run<Row>(['port', 'show', p.id as string]);
    assert.equal(viaOsc.network_id, n.id);
    await cloud.run(['port', 'delete', p.id as string]);
    await cloud.run(['network', 'delete', n.id as string]);
  });

  describe('security groups and rules', () => {
    const password = 'sg-member-password-1';
    let project: string;
    let projectId: string;
    let member: Env;
    /** `neutron ...args` without -f json (delete prints no table); fails the test on a non-zero exit. */
    const neutronRaw = async (args: string[]): Promise<ExecResult> => {
      const r = await exec('neutron', args, { env: cloud.env, timeoutMs: 60_000 });
      assert.equal(r.code, 0, `neutron ${args.join(' ')}: ${r.stderr}\n${r.stdout}`);
      return r;
    };
    /** The rules of a group as `security group show -f json` prints them (a list of dicts, or a string). */
    const rulesOf = (g: Row): Row[] => {
      const raw = g.rules ?? g.security_group_rules;
      assert.ok(Array.isArray(raw), `rules of ${String(g.id)} as a list: ${JSON.stringify(raw)}`);
      return raw as Row[];
    };

    before(async () => {
      project = uniq('sgproj');
      const user = uniq('sguser');
      projectId = (await cloud.run<Row>(['project', 'create', project])).id as string;
      await cloud.run(['user', 'create', '--password', password, user]);
      await cloud.run(['role', 'add', '--user', user, '--project', project, 'member']);
      member = { ...cloud.env, OS_USERNAME: user, OS_PASSWORD: password, OS_PROJECT_NAME: project };
    });

    it('security group create/list/show/set/delete as a project member; default group on first use', async () => {
      const list0 = await cloud.run<Row[]>(['security', 'group', 'list'], member);
      const defaults = list0.filter((r) => r.Name === 'default');
      assert.equal(defaults.length, 1, JSON.stringify(list0));
      assert.equal(defaults[0].Project, projectId);
      const def = await cloud.run<Row>(['security', 'group', 'show', 'default'], member);
      assert.equal(def.id, defaults[0].ID);
      assert.equal(def.project_id, projectId);
      // default: ingress from the group itself (IPv4 and IPv6) and egress anywhere (IPv4 and IPv6)
      const defRules = rulesOf(def);
      assert.equal(defRules.length, 4, JSON.stringify(defRules));
      assert.deepEqual(
        defRules
          .filter((r) => r.direction === 'ingress')
          .map((r) => `${String(r.ethertype)} ${String(r.remote_group_id)}`)
          .sort(),
        [`IPv4 ${String(def.id)}`, `IPv6 ${String(def.id)}`],
      );

      const name = uniq('sg');
      const g = await cloud.run<Row>(
        ['security', 'group', 'create', name, '--description', 'web tier'],
        member,
      );
      assert.equal(g.name, name);
      assert.equal(g.description, 'web tier');
      assert.equal(g.project_id, projectId);
      assert.equal(g.stateful, true);
      const rules = rulesOf(g);
      assert.equal(rules.length, 2, JSON.stringify(rules));
      assert.deepEqual(rules.map((r) => `${String(r.direction)} ${String(r.ethertype)}`).sort(), [
        'egress IPv4',
        'egress IPv6',
      ]);
      for (const r of rules) {
        assert.equal(r.protocol ?? null, null);
        assert.equal(r.remote_ip_prefix ?? null, null);
        assert.equal(r.port_range_min ?? null, null);
      }
      const shown = await cloud.run<Row>(['security', 'group', 'show', name], member);
      assert.equal(shown.id, g.id);
      assert.deepEqual(
        rulesOf(shown)
          .map((r) => r.id)
          .sort(),
        rules.map((r) => r.id).sort(),
      );

      const list = await cloud.run<Row[]>(['security', 'group', 'list'], member);
      assert.deepEqual(list.map((r) => r.Name).sort(), ['default', name].sort());
      const mine = list.find((r) => r.ID === g.id);
      assert.equal(mine?.Description, 'web tier');
      // admin sees it too, with --project
      const adminList = await cloud.run<Row[]>(['security', 'group', 'list', '--project', projectId]);
      assert.deepEqual(adminList.map((r) => r.ID).sort(), [def.id, g.id].sort());

      await cloud.run(
        ['security', 'group', 'set', '--name', `${name}-2`, '--description', 'app tier', name],
        member,
      );
      const renamed = await cloud.run<Row>(['security', 'group', 'show', g.id as string], member);
      assert.equal(renamed.name, `${name}-2`);
      assert.equal(renamed.description, 'app tier');
      assert.ok(Number(renamed.revision_number) > Number(g.revision_number), 'revision bumped');
      const old = await cloud.attempt(['security', 'group', 'show', name], member);
      assert.notEqual(old.code, 0);

      // the default group cannot be renamed
      const setDefault = await cloud.attempt(['security', 'group', 'set', '--name', 'x', 'default'], member);
      assert.notEqual(setDefault.code, 0);
      assert.match(setDefault.stderr, /Updating default security group not allowed/);

      await cloud.run(['security', 'group', 'delete', `${name}-2`], member);
      const gone = await cloud.attempt(['security', 'group', 'show', g.id as string], member);
      assert.notEqual(gone.code, 0);
      assert.match(gone.stderr, /No SecurityGroup found|could not be found|not found/i);
      const remaining = await cloud.run<Row[]>(['security', 'group', 'list'], member);
      assert.deepEqual(
        remaining.map((r) => r.ID),
        [def.id],
      );
    });

    it('security group rule create/list/show/delete: tcp port, icmp, egress, remote group; duplicates refused', async () => {
      const gname = uniq('sgr');
      const g = await cloud.run<Row>(['security', 'group', 'create', gname], member);
      const def = await cloud.run<Row>(['security', 'group', 'show', 'default'], member);

      const ssh = await cloud.run<Row>(
        [
          'security',
          'group',
          'rule',
          'create',
          '--protocol',
          'tcp',
          '--dst-port',
          '22:22',
          '--remote-ip',
          '10.0.0.0/8',
          gname,
        ],
        member,
      );
      assert.equal(ssh.security_group_id, g.id);
      assert.equal(ssh.direction, 'ingress');
      assert.equal(ssh.ether_type, 'IPv4', 'openstacksdk names ethertype ether_type');
      assert.equal(ssh.protocol, 'tcp');
      assert.equal(ssh.port_range_min, 22);
      assert.equal(ssh.port_range_max, 22);
      assert.equal(ssh.remote_ip_prefix, '10.0.0.0/8');
      assert.equal(ssh.remote_group_id ?? null, null);
      assert.equal(ssh.project_id, projectId);

      const icmp = await cloud.run<Row>(
        ['security', 'group', 'rule', 'create', '--protocol', 'icmp', '--ingress', gname],
        member,
      );
      assert.equal(icmp.protocol, 'icmp');
      assert.equal(icmp.direction, 'ingress');
      assert.equal(icmp.port_range_min ?? null, null);
      assert.equal(icmp.port_range_max ?? null, null);
      assert.equal(icmp.ether_type, 'IPv4');
      assert.equal(icmp.remote_ip_prefix, '0.0.0.0/0', 'the CLI sends 0.0.0.0/0 when no remote is given');

      const egress = await cloud.run<Row>(
        [
          'security',
          'group',
          'rule',
          'create',
          '--egress',
          '--protocol',
          'udp',
          '--dst-port',
          '53',
          '--remote-ip',
          '192.0.2.0/24',
          gname,
        ],
        member,
      );
      assert.equal(egress.direction, 'egress');
      assert.equal(egress.protocol, 'udp');
      assert.equal(egress.port_range_min, 53);
      assert.equal(egress.port_range_max, 53);
      assert.equal(egress.remote_ip_prefix, '192.0.2.0/24');

      const fromDefault = await cloud.run<Row>(
        [
          'security',
          'group',
          'rule',
          'create',
          '--protocol',
          'tcp',
          '--dst-port',
          '8000:8080',
          '--remote-group',
          'default',
          gname,
        ],
        member,
      );
      assert.equal(fromDefault.remote_group_id, def.id);
      assert.equal(fromDefault.remote_ip_prefix ?? null, null);
      assert.equal(fromDefault.port_range_min, 8000);
      assert.equal(fromDefault.port_range_max, 8080);

      const dup = await cloud.attempt(
        [
          'security',
          'group',
          'rule',
          'create',
          '--protocol',
          'tcp',
          '--dst-port',
          '22:22',
          '--remote-ip',
          '10.0.0.0/8',
          gname,
        ],
        member,
      );
      assert.notEqual(dup.code, 0);
      assert.match(
        dup.stderr,
        new RegExp(`Security group rule already exists\\. Rule id is ${String(ssh.id)}`),
      );
      assert.match(dup.stderr, /409/);

      const bad = await cloud.attempt(
        ['security', 'group', 'rule', 'create', '--protocol', 'tcp', '--dst-port', '0:80', gname],
        member,
      );
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /Invalid value for port 0/);

      const list = await cloud.run<Row[]>(['security', 'group', 'rule', 'list', gname], member);
      const created = [ssh, icmp, egress, fromDefault];
      assert.equal(list.length, 2 + created.length, JSON.stringify(list));
      const byId = new Map(list.map((r) => [r.ID, r]));
      for (const r of created) assert.ok(byId.has(r.id), `${String(r.id)} listed`);
      const sshRow = byId.get(ssh.id) as Row;
      assert.equal(sshRow['IP Protocol'], 'tcp');
      assert.equal(sshRow['IP Range'], '10.0.0.0/8');
      assert.equal(sshRow['Port Range'], '22:22');
      assert.equal(sshRow.Direction, 'ingress');
      assert.equal((byId.get(fromDefault.id) as Row)['Remote Security Group'], def.id);
      assert.equal((byId.get(fromDefault.id) as Row)['Port Range'], '8000:8080');
      assert.equal((byId.get(egress.id) as Row).Direction, 'egress');
      const ingressOnly = await cloud.run<Row[]>(
        ['security', 'group', 'rule', 'list', '--ingress', gname],
        member,
      );
      assert.deepEqual(ingressOnly.map((r) => r.ID).sort(), [ssh.id, icmp.id, fromDefault.id].sort());
      const tcpOnly = await cloud.run<Row[]>(
        ['security', 'group', 'rule', 'list', '--protocol', 'tcp', gname],
        member,
      );
      assert.deepEqual(tcpOnly.map((r) => r.ID).sort(), [ssh.id, fromDefault.id].sort());

      const shown = await cloud.run<Row>(['security', 'group', 'rule', 'show', ssh.id as string], member);
      assert.equal(shown.id, ssh.id);
      assert.equal(shown.protocol, 'tcp');
      assert.equal(shown.port_range_min, 22);
      assert.equal(shown.remote_ip_prefix, '10.0.0.0/8');
      assert.equal(shown.security_group_id, g.id);

      await cloud.run(['security', 'group', 'rule', 'delete', ssh.id as string, icmp.id as string], member);
      const gone = await cloud.attempt(['security', 'group', 'rule', 'show', ssh.id as string], member);
      assert.notEqual(gone.code, 0);
      const left = await cloud.run<Row[]>(['security', 'group', 'rule', 'list', gname], member);
      assert.equal(left.length, 4);
      assert.ok(!left.some((r) => r.ID === ssh.id || r.ID === icmp.id));
      // deleting the group takes its rules along
      await cloud.run(['security', 'group', 'delete', gname], member);
      const orphan = await cloud.attempt(['security', 'group', 'rule', 'show', egress.id as string], member);
      assert.notEqual(orphan.code, 0);
      // rules naming `default` as remote went too; the default group keeps its own 4
      assert.equal(rulesOf(await cloud.run<Row>(['security', 'group', 'show', 'default'], member)).length, 4);
    });

    it('ports and groups: create with --security-group, in-use delete refused, set --no-security-group', async () => {
      const net = await cloud.run<Row>(['network', 'create', uniq('sgnet')], member);
      await cloud.run(
        ['subnet', 'create', uniq('sgsub'), '--network', net.id as string, '--subnet-range', '10.77.0.0/24'],
        member,
      );
      const web = await cloud.run<Row>(['security', 'group', 'create', uniq('web')], member);
      const db = await cloud.run<Row>(['security', 'group', 'create', uniq('db')], member);
      const def = await cloud.run<Row>(['security', 'group', 'show', 'default'], member);

      const pname = uniq('sgport');
      const p = await cloud.run<Row>(
        ['port', 'create', '--network', net.id as string, '--security-group', web.name as string, pname],
        member,
      );
      assert.deepEqual(p.security_group_ids, [web.id]);
      assert.equal(p.port_security_enabled, true);
      const plain = await cloud.run<Row>(
        ['port', 'create', '--network', net.id as string, uniq('sgport')],
        member,
      );
      assert.deepEqual(plain.security_group_ids, [def.id], 'no --security-group: the default group');

      const inUse = await cloud.attempt(['security', 'group', 'delete', web.id as string], member);
      assert.notEqual(inUse.code, 0);
      assert.match(inUse.stderr, new RegExp(`Security Group ${String(web.id)} in use`));
      assert.ok(await cloud.run<Row>(['security', 'group', 'show', web.id as string], member));

      await cloud.run(['port', 'set', '--security-group', db.name as string, pname], member);
      const both = await cloud.run<Row>(['port', 'show', pname], member);
      assert.deepEqual(
        (both.security_group_ids as string[]).slice().sort(),
        [web.id as string, db.id as string].sort(),
      );
      // (`port list --security-group` is refused by this openstacksdk itself: "Invalid query params: security_groups")
      const listed = await cloud.run<Row[]>(['port', 'list', '--network', net.id as string], member);
      assert.deepEqual(listed.map((r) => r.ID).sort(), [p.id as string, plain.id as string].sort());

      await cloud.run(['port', 'set', '--no-security-group', pname], member);
      const none = await cloud.run<Row>(['port', 'show', pname], member);
      assert.deepEqual(none.security_group_ids, []);
      await cloud.run(['security', 'group', 'delete', web.id as string], member);

      await cloud.run(
        ['port', 'set', '--no-security-group', '--security-group', db.id as string, pname],
        member,
      );
      assert.deepEqual((await cloud.run<Row>(['port', 'show', pname], member)).security_group_ids, [db.id]);
      const dbInUse = await cloud.attempt(['security', 'group', 'delete', db.id as string], member);
      assert.notEqual(dbInUse.code, 0);
      assert.match(dbInUse.stderr, /in use/);

      // a member may not delete its default group, even unused
      await cloud.run(['port', 'delete', pname, plain.id as string], member);
      const delDefault = await cloud.attempt(['security', 'group', 'delete', 'default'], member);
      assert.notEqual(delDefault.code, 0);
      assert.match(delDefault.stderr, /Insufficient rights for removing default security group/);
      await cloud.run(['security', 'group', 'delete', db.id as string], member);
      await cloud.run(['network', 'delete', net.id as string], member);
    });

    it('the neutron CLI: security-group-create/-list/-show/-delete and security-group-rule-create/-list/-delete', async () => {
      const name = uniq('nsg');
      const g = (await neutron(['security-group-create', name, '--description', 'from neutron'])) as Row;
      assert.equal(g.name, name);
      assert.equal(g.description, 'from neutron');
      const viaOsc = await cloud.run<Row>(['security', 'group', 'show', g.id as string]);
      assert.equal(viaOsc.name, name);
      assert.equal(rulesOf(viaOsc).length, 2);

      const list = (await neutron(['security-group-list'])) as Row[];
      const row = list.find((r) => r.id === g.id);
      assert.ok(row, `${String(g.id)} listed`);
      assert.equal(row.name, name);
      const shown = (await neutron(['security-group-show', name])) as Row;
      assert.equal(shown.id, g.id);
      assert.equal(shown.description, 'from neutron');

      const http = (await neutron([
        'security-group-rule-create',
        '--direction',
        'ingress',
        '--protocol',
        'tcp',
        '--port-range-min',
        '80',
        '--port-range-max',
        '80',
        name,
      ])) as Row;
      assert.equal(http.security_group_id, g.id);
      assert.equal(http.direction, 'ingress');
      assert.equal(http.protocol, 'tcp');
      assert.equal(Number(http.port_range_min), 80);
      assert.equal(Number(http.port_range_max), 80);
      assert.equal(http.ethertype, 'IPv4');
      const https6 = (await neutron([
        'security-group-rule-create',
        '--direction',
        'ingress',
        '--ethertype',
        'IPv6',
        '--protocol',
        'tcp',
        '--port-range-min',
        '443',
        '--port-range-max',
        '443',
        '--remote-ip-prefix',
        '2001:db8::/32',
        name,
      ])) as Row;
      assert.equal(https6.ethertype, 'IPv6');
      assert.equal(https6.remote_ip_prefix, '2001:db8::/32');

      const osc = await cloud.run<Row>(['security', 'group', 'rule', 'show', http.id as string]);
      assert.equal(osc.port_range_min, 80);
      assert.equal(osc.port_range_max, 80);

      const rules = (await neutron([
        'security-group-rule-list',
        '--security-group-id',
        g.id as string,
      ])) as Row[];
      assert.deepEqual(
        rules.map((r) => r.id).sort(),
        [...rulesOf(viaOsc).map((r) => r.id), http.id, https6.id].sort(),
      );
      const httpRow = rules.find((r) => r.id === http.id) as Row;
      assert.equal(httpRow.security_group, name, 'the group id resolved to its name');
      assert.equal(httpRow['port/protocol'], '80/tcp');
      assert.equal(httpRow.remote, 'any');
      assert.equal(httpRow.ethertype, 'IPv4');
      assert.match(String((rules.find((r) => r.id === https6.id) as Row).remote), /^2001:db8::\/32/);
      assert.equal((rules.find((r) => r.id === https6.id) as Row)['port/protocol'], '443/tcp');
      assert.equal(httpRow.direction, 'ingress');

      const dup = await exec(
        'neutron',
        [
          'security-group-rule-create',
          '--direction',
          'ingress',
          '--protocol',
          'tcp',
          '--port-range-min',
          '80',
          '--port-range-max',
          '80',
          name,
        ],
        { env: cloud.env, timeoutMs: 60_000 },
      );
      assert.notEqual(dup.code, 0);
      assert.match(dup.stderr, /Security group rule already exists/);

      const del = await neutronRaw(['security-group-rule-delete', http.id as string]);
      assert.match(del.stdout, new RegExp(`Deleted security_group_rule(\\(s\\))?: ${String(http.id)}`));
      const afterDelete = (await neutron([
        'security-group-rule-list',
        '--security-group-id',
        g.id as string,
      ])) as Row[];
      assert.ok(!afterDelete.some((r) => r.id === http.id));
      assert.equal(afterDelete.length, rules.length - 1);

      const gdel = await neutronRaw(['security-group-delete', name]);
      assert.match(gdel.stdout, new RegExp(`Deleted security_group(\\(s\\))?: ${name}`));
      const gone = await cloud.attempt(['security', 'group', 'show', g.id as string]);
      assert.notEqual(gone.code, 0);
      const ruleGone = await cloud.attempt(['security', 'group', 'rule', 'show', https6.id as string]);
      assert.notEqual(ruleGone.code, 0);
    });
  });
});
