import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Knex } from 'knex';
import { realizedRulesForPorts } from '../../../src/network/security-groups/port-bindings.js';
import { startTestApi, type TestApi } from '../../support/api.js';
import { testBackends } from '../../support/databases.js';
import { assertNeutronError, client, count, neutronUsers, openDb, type NeutronUsers } from './helpers.js';

interface Rule {
  id: string;
  direction: string;
  ethertype: string;
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
  normalized_cidr: string | null;
  security_group_id: string;
}

const RULE_FIELDS = [
  'belongs_to_default_sg',
  'created_at',
  'description',
  'direction',
  'ethertype',
  'id',
  'normalized_cidr',
  'port_range_max',
  'port_range_min',
  'project_id',
  'protocol',
  'remote_address_group_id',
  'remote_group_id',
  'remote_ip_prefix',
  'revision_number',
  'security_group_id',
  'tenant_id',
  'updated_at',
];

for (const backend of testBackends()) {
  describe(`Neutron security groups [${backend}]`, () => {
    let api: TestApi;
    let u: NeutronUsers;
    let db: Knex;
    let call: ReturnType<typeof client>;
    before(async () => {
      api = await startTestApi(backend);
      u = await neutronUsers(api, 'sg');
      db = openDb(api);
      call = client(api);
    });
    after(async () => {
      await db.destroy();
      await api.close();
    });

    const newGroup = async (token: string, name: string, extra: Record<string, unknown> = {}) => {
      const res = await call(token, 'post', '/security-groups', { security_group: { name, ...extra } });
      assert.equal(res.status, 201, JSON.stringify(res.body));
      return res.body.security_group as { id: string; security_group_rules: Rule[]; revision_number: number };
    };
    const rule = (sg: string, extra: Record<string, unknown>) => ({
      security_group_rule: { security_group_id: sg, direction: 'ingress', ...extra },
    });

    it('a new group has the two default egress rules and every Neutron field', async () => {
      const sg = await newGroup(u.a, 'web', { description: 'front ends' });
      assert.deepEqual(Object.keys(sg).sort(), [
        'created_at',
        'description',
        'id',
        'name',
        'project_id',
        'revision_number',
        'security_group_rules',
        'shared',
        'stateful',
        'tags',
        'tenant_id',
        'updated_at',
      ]);
      const body = sg as unknown as Record<string, unknown>;
      assert.equal(body.project_id, u.projectA);
      assert.equal(body.tenant_id, u.projectA);
      assert.equal(body.stateful, true);
      assert.equal(body.shared, false);
      assert.equal(body.description, 'front ends');
      assert.deepEqual(body.tags, []);
      assert.match(body.created_at as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const rules = sg.security_group_rules;
      assert.equal(rules.length, 2);
      assert.deepEqual(Object.keys(rules[0]).sort(), RULE_FIELDS);
      assert.deepEqual(rules.map((r) => `${r.direction}/${r.ethertype}`).sort(), [
        'egress/IPv4',
        'egress/IPv6',
      ]);
      for (const r of rules) {
        assert.equal(r.protocol, null);
        assert.equal(r.remote_ip_prefix, null);
        assert.equal(r.remote_group_id, null);
        assert.equal(r.port_range_min, null);
        assert.equal(r.security_group_id, sg.id);
      }
      const got = await call(u.a, 'get', `/security-groups/${sg.id}`);
      assert.deepEqual(got.body.security_group, sg);
    });

    it("the project's default group is created on first use, with ingress from itself", async () => {
      const pc = await api.createProject('pc-sg');
      const uc = await api.createUser('uc-sg', 'pw-c-secret');
      await api.grant(pc.id, uc.id, 'member');
      const c = await api.tokenFor(uc.id, 'pw-c-secret', pc.id);
      assert.equal(await count(db, 'security_groups', { project_id: pc.id }), 0);
      // Several first uses at once make one default group.
      const lists = await Promise.all(Array.from({ length: 6 }, () => call(c, 'get', '/security-groups')));
      for (const l of lists) assert.equal(l.status, 200, JSON.stringify(l.body));
      assert.equal(await count(db, 'security_groups', { project_id: pc.id }), 1);
      assert.equal(await count(db, 'default_security_group', { project_id: pc.id }), 1);
      const ids = new Set(lists.map((l) => l.body.security_groups[0].id));
      assert.equal(ids.size, 1);
      const def = lists[0].body.security_groups[0];
      assert.equal(def.name, 'default');
      assert.equal(def.description, 'Default security group');
      const rules = def.security_group_rules as (Rule & { belongs_to_default_sg: boolean })[];
      assert.deepEqual(
        rules
          .map(
            (r) =>
              `${r.direction}/${r.ethertype}/${r.remote_group_id === def.id ? 'self' : r.remote_group_id}`,
          )
          .sort(),
        ['egress/IPv4/null', 'egress/IPv6/null', 'ingress/IPv4/self', 'ingress/IPv6/self'],
      );
      assert.ok(rules.every((r) => r.belongs_to_default_sg === true));
      // An admin listing another project's groups creates that project's default group too.
      const pd = await api.createProject('pd-sg');
      const asAdmin = await call(u.admin, 'get', `/security-groups?project_id=${pd.id}`);
      assert.equal(asAdmin.body.security_groups.length, 1);
      assert.equal(asAdmin.body.security_groups[0].name, 'default');
      // Listing rules is a first use as well.
      const pe = await api.createProject('pe-sg');
      const ue = await api.createUser('ue-sg', 'pw-e-secret');
      await api.grant(pe.id, ue.id, 'member');
      const e = await api.tokenFor(ue.id, 'pw-e-secret', pe.id);
      assert.equal((await call(e, 'get', '/security-group-rules')).body.security_group_rules.length, 4);
    });

    it('the default group: no rename, no delete by its owner, an admin may delete it and it comes back', async () => {
      const def = (await call(u.b, 'get', '/security-groups?name=default')).body.security_groups[0];
      assertNeutronError(
        await call(u.b, 'put', `/security-groups/${def.id}`, { security_group: { name: 'other' } }),
        409,
        'SecurityGroupCannotUpdateDefault',
        /Updating default security group not allowed/,
      );
      const described = await call(u.b, 'put', `/security-groups/${def.id}`, {
        security_group: { description: 'mine' },
      });
      assert.equal(described.status, 200);
      assert.equal(described.body.security_group.description, 'mine');
      assertNeutronError(
        await call(u.b, 'delete', `/security-groups/${def.id}`),
        409,
        'SecurityGroupCannotRemoveDefault',
      );
      assertNeutronError(
        await call(u.b, 'post', '/security-groups', { security_group: { name: 'Default' } }),
        409,
        'SecurityGroupDefaultAlreadyExists',
      );
      const other = await newGroup(u.b, 'renamable');
      assertNeutronError(
        await call(u.b, 'put', `/security-groups/${other.id}`, { security_group: { name: 'default' } }),
        409,
        'SecurityGroupDefaultAlreadyExists',
      );
      await call(u.admin, 'delete', `/security-groups/${def.id}`).expect(204);
      assert.equal(await count(db, 'security_group_rules', { security_group_id: def.id }), 0);
      const again = (await call(u.b, 'get', '/security-groups?name=default')).body.security_groups;
      assert.equal(again.length, 1);
      assert.notEqual(again[0].id, def.id);
      await call(u.b, 'delete', `/security-groups/${other.id}`).expect(204);
    });

    it("Terraform's flow: create, read, delete each default egress rule by id", async () => {
      const sg = await newGroup(u.a, 'tf');
      const read = (await call(u.a, 'get', `/security-groups/${sg.id}`)).body.security_group;
      for (const r of read.security_group_rules as Rule[])
        await call(u.a, 'delete', `/security-group-rules/${r.id}`).expect(204);
      const after = (await call(u.a, 'get', `/security-groups/${sg.id}`)).body.security_group;
      assert.deepEqual(after.security_group_rules, []);
      assert.ok(after.revision_number > read.revision_number, 'rule changes revise the group');
      assertNeutronError(
        await call(u.a, 'delete', `/security-group-rules/${read.security_group_rules[0].id}`),
        404,
        'SecurityGroupRuleNotFound',
      );
    });

    it('rules are normalized as Neutron does', async () => {
      const sg = await newGroup(u.a, 'norm');
      const make = async (extra: Record<string, unknown>) => {
        const res = await call(u.a, 'post', '/security-group-rules', rule(sg.id, extra));
        assert.equal(res.status, 201, JSON.stringify(res.body));
        return res.body.security_group_rule as Rule;
      };
      const r1 = await make({
        protocol: 'TCP',
        port_range_min: '22',
        port_range_max: 22,
        remote_ip_prefix: '10.0.0.5/24',
      });
      assert.equal(r1.protocol, 'tcp');
      assert.equal(r1.port_range_min, 22);
      assert.equal(r1.remote_ip_prefix, '10.0.0.5/24');
      assert.equal(r1.normalized_cidr, '10.0.0.0/24');
      assert.equal(r1.ethertype, 'IPv4');
      const r2 = await make({
        protocol: 'udp',
        port_range_min: 1,
        port_range_max: 65535,
        remote_ip_prefix: '192.0.2.7',
      });
      assert.equal(r2.port_range_min, null, 'the whole range is no range');
      assert.equal(r2.port_range_max, null);
      assert.equal(r2.remote_ip_prefix, '192.0.2.7/32');
      const r3 = await make({ ethertype: 'ipv6', protocol: 'icmp', port_range_min: 128, port_range_max: 0 });
      assert.equal(r3.ethertype, 'IPv6');
      assert.equal(r3.protocol, 'ipv6-icmp');
      const r4 = await make({ ethertype: 'IPv6', protocol: 132, remote_ip_prefix: '2001:DB8:0::1/64' });
      assert.equal(r4.protocol, '132');
      assert.equal(r4.remote_ip_prefix, '2001:db8::1/64');
      assert.equal(r4.normalized_cidr, '2001:db8::/64');
      const r5 = await make({
        protocol: 'any',
        direction: 'egress',
        remote_group_id: sg.id,
        description: 'peers',
      });
      assert.equal(r5.protocol, null);
      assert.equal(r5.remote_group_id, sg.id);
      const shown = (await call(u.a, 'get', `/security-group-rules/${r5.id}`)).body.security_group_rule;
      assert.equal(shown.description, 'peers');
      assert.equal(shown.belongs_to_default_sg, false);
    });

    it('invalid rules get Neutron errors and leave nothing behind', async () => {
      const sg = await newGroup(u.a, 'strict');
      const before = await count(db, 'security_group_rules');
      const cases: [Record<string, unknown>, number, string, RegExp?][] = [
        [{ protocol: 'bogus' }, 400, 'HTTPBadRequest', /Security group rule protocol bogus not supported/],
        [{ protocol: 256 }, 400, 'HTTPBadRequest'],
        [{ direction: 'sideways' }, 400, 'HTTPBadRequest', /Invalid input for direction/],
        [{ ethertype: 'IPv5' }, 400, 'HTTPBadRequest', /ethertype 'IPv5' not supported/],
        [{ port_range_min: 22, port_range_max: 22 }, 400, 'SecurityGroupProtocolRequiredWithPorts'],
        [{ protocol: 'tcp', port_range_min: 90, port_range_max: 80 }, 400, 'SecurityGroupInvalidPortRange'],
        [{ protocol: 'tcp', port_range_min: 80 }, 400, 'SecurityGroupInvalidPortRange'],
        [{ protocol: 'tcp', port_range_min: 0, port_range_max: 80 }, 400, 'SecurityGroupInvalidPortValue'],
        [
          { protocol: 'tcp', port_range_min: 70000, port_range_max: 70000 },
          400,
          'HTTPBadRequest',
          /Invalid value for port 70000/,
        ],
        [{ protocol: 'icmp', port_range_min: 256 }, 400, 'SecurityGroupInvalidIcmpValue'],
        [{ protocol: 'icmp', port_range_max: 3 }, 400, 'SecurityGroupMissingIcmpType'],
        [
          { protocol: 'gre', port_range_min: 1, port_range_max: 2 },
          400,
          'SecurityGroupInvalidProtocolForPort',
        ],
        [{ ethertype: 'IPv4', protocol: 'ipv6-icmp' }, 400, 'SecurityGroupEthertypeConflictWithProtocol'],
        [{ ethertype: 'IPv6', remote_ip_prefix: '10.0.0.0/8' }, 400, 'SecurityGroupRuleParameterConflict'],
        [{ remote_ip_prefix: '10.0.0.0/33' }, 400, 'InvalidCIDR'],
        [{ remote_ip_prefix: 'nope' }, 400, 'InvalidCIDR'],
        [
          { remote_ip_prefix: '10.0.0.0/8', remote_group_id: sg.id },
          400,
          'SecurityGroupMultipleRemoteEntites',
        ],
        [{ colour: 'red' }, 400, 'HTTPBadRequest', /Unrecognized attribute/],
        [{ remote_group_id: '00000000-0000-0000-0000-000000000000' }, 404, 'SecurityGroupNotFound'],
      ];
      for (const [extra, status, type, message] of cases)
        assertNeutronError(
          await call(u.a, 'post', '/security-group-rules', rule(sg.id, extra)),
          status,
          type,
          message,
        );
      assertNeutronError(
        await call(u.a, 'post', '/security-group-rules', {
          security_group_rule: { security_group_id: sg.id },
        }),
        400,
        'HTTPBadRequest',
        /Required attribute 'direction' not specified/,
      );
      assertNeutronError(
        await call(u.a, 'post', '/security-group-rules', rule('00000000-0000-0000-0000-000000000000', {})),
        404,
        'SecurityGroupNotFound',
        /Security group 00000000-0000-0000-0000-000000000000 does not exist/,
      );
      assertNeutronError(
        await call(u.a, 'post', '/security-groups', { security_group: { name: 'x', stateful: false } }),
        400,
        'InvalidInput',
      );
      assert.equal(await count(db, 'security_group_rules'), before);
    });

    it('a duplicate rule is a 409 naming the existing rule, also under concurrency', async () => {
      const sg = await newGroup(u.a, 'dups');
      const first = await call(
        u.a,
        'post',
        '/security-group-rules',
        rule(sg.id, { protocol: 'tcp', port_range_min: 80, port_range_max: 80 }),
      );
      assert.equal(first.status, 201);
      const id = first.body.security_group_rule.id;
      // Protocol by number, and an all-addresses prefix, are the same rule.
      for (const extra of [
        { protocol: '6', port_range_min: 80, port_range_max: 80 },
        { protocol: 'tcp', port_range_min: 80, port_range_max: 80, remote_ip_prefix: '0.0.0.0/0' },
      ])
        assertNeutronError(
          await call(u.a, 'post', '/security-group-rules', rule(sg.id, extra)),
          409,
          'SecurityGroupRuleExists',
          new RegExp(`Rule id is ${id}`),
        );
      // The default egress rule exists already.
      assertNeutronError(
        await call(u.a, 'post', '/security-group-rules', rule(sg.id, { direction: 'egress' })),
        409,
        'SecurityGroupRuleExists',
      );
      const racing = await Promise.all(
        Array.from({ length: 5 }, () =>
          call(
            u.a,
            'post',
            '/security-group-rules',
            rule(sg.id, { protocol: 'udp', port_range_min: 53, port_range_max: 53 }),
          ),
        ),
      );
      assert.deepEqual(
        racing.map((r) => r.status).sort(),
        [201, 409, 409, 409, 409],
        JSON.stringify(racing.map((r) => r.body)),
      );
      for (const r of racing.filter((x) => x.status === 409))
        assert.equal(r.body.NeutronError.type, 'SecurityGroupRuleExists');
      // Bulk: duplicates inside one POST.
      assertNeutronError(
        await call(u.a, 'post', '/security-group-rules', {
          security_group_rules: [
            rule(sg.id, { protocol: 'icmp' }).security_group_rule,
            rule(sg.id, { protocol: '1' }).security_group_rule,
          ],
        }),
        409,
        'DuplicateSecurityGroupRuleInPost',
      );
      const bulk = await call(u.a, 'post', '/security-group-rules', {
        security_group_rules: [
          rule(sg.id, { protocol: 'icmp' }).security_group_rule,
          rule(sg.id, { protocol: 'gre' }).security_group_rule,
        ],
      });
      assert.equal(bulk.status, 201);
      assert.equal(bulk.body.security_group_rules.length, 2);
    });

    it("another project's groups and rules do not exist for the caller; admins act on them", async () => {
      const sg = await newGroup(u.a, 'private');
      const ruleId = sg.security_group_rules[0].id;
      assertNeutronError(await call(u.b, 'get', `/security-groups/${sg.id}`), 404, 'SecurityGroupNotFound');
      assertNeutronError(
        await call(u.b, 'put', `/security-groups/${sg.id}`, { security_group: { description: 'x' } }),
        404,
        'SecurityGroupNotFound',
      );
      assertNeutronError(
        await call(u.b, 'delete', `/security-groups/${sg.id}`),
        404,
        'SecurityGroupNotFound',
      );
      assertNeutronError(
        await call(u.b, 'get', `/security-group-rules/${ruleId}`),
        404,
        'SecurityGroupRuleNotFound',
      );
      assertNeutronError(
        await call(u.b, 'delete', `/security-group-rules/${ruleId}`),
        404,
        'SecurityGroupRuleNotFound',
      );
      assertNeutronError(
        await call(u.b, 'post', '/security-group-rules', rule(sg.id, { protocol: 'tcp' })),
        404,
        'SecurityGroupNotFound',
      );
      const bGroup = await newGroup(u.b, 'b-own');
      assertNeutronError(
        await call(u.b, 'post', '/security-group-rules', rule(bGroup.id, { remote_group_id: sg.id })),
        404,
        'SecurityGroupNotFound',
      );
      const listed = (await call(u.b, 'get', '/security-groups')).body.security_groups.map(
        (g: { id: string }) => g.id,
      );
      assert.ok(!listed.includes(sg.id));
      const rulesOfB = (await call(u.b, 'get', '/security-group-rules')).body.security_group_rules as Rule[];
      assert.ok(rulesOfB.every((r) => r.security_group_id !== sg.id));
      // Readers read but do not write.
      assertNeutronError(
        await call(u.reader, 'post', '/security-groups', { security_group: { name: 'r' } }),
        403,
        'PolicyNotAuthorized',
      );
      assert.equal((await call(u.reader, 'get', `/security-groups/${sg.id}`)).status, 200);
      // Admin: sees and changes it; a group for another project.
      assert.equal((await call(u.admin, 'get', `/security-groups/${sg.id}`)).status, 200);
      const adminRule = await call(
        u.admin,
        'post',
        '/security-group-rules',
        rule(sg.id, { protocol: 'tcp' }),
      );
      assert.equal(adminRule.status, 201);
      const forB = await call(u.admin, 'post', '/security-groups', {
        security_group: { name: 'for-b', project_id: u.projectB },
      });
      assert.equal(forB.body.security_group.project_id, u.projectB);
      assertNeutronError(
        await call(u.a, 'post', '/security-groups', {
          security_group: { name: 'steal', project_id: u.projectB },
        }),
        403,
        'PolicyNotAuthorized',
      );
    });

    it('filters, fields, sorting, paging and tags', async () => {
      const g1 = await newGroup(u.a, 'flt-1', { tags: ['blue'] });
      const g2 = await newGroup(u.a, 'flt-2');
      const byName = await call(u.a, 'get', '/security-groups?name=flt-1');
      assert.deepEqual(
        byName.body.security_groups.map((g: { id: string }) => g.id),
        [g1.id],
      );
      assert.deepEqual(byName.body.security_groups[0].tags, ['blue']);
      const fields = await call(
        u.a,
        'get',
        `/security-groups?id=${g1.id}&id=${g2.id}&fields=id&fields=name&sort_key=name&sort_dir=desc`,
      );
      assert.deepEqual(fields.body.security_groups, [
        { id: g2.id, name: 'flt-2' },
        { id: g1.id, name: 'flt-1' },
      ]);
      const tagged = await call(u.a, 'get', '/security-groups?tags=blue');
      assert.deepEqual(
        tagged.body.security_groups.map((g: { id: string }) => g.id),
        [g1.id],
      );
      const page = await call(u.a, 'get', '/security-groups?limit=1&sort_key=name&sort_dir=asc');
      assert.equal(page.body.security_groups.length, 1);
      assert.ok(page.body.security_groups_links.some((l: { rel: string }) => l.rel === 'next'));
      const one = await call(u.a, 'get', `/security-groups/${g1.id}?fields=name`);
      assert.deepEqual(one.body.security_group, { name: 'flt-1' });
      const rules = await call(
        u.a,
        'get',
        `/security-group-rules?security_group_id=${g1.id}&ethertype=IPv6&fields=direction`,
      );
      assert.deepEqual(rules.body.security_group_rules, [{ direction: 'egress' }]);
      await call(u.a, 'put', `/security-groups/${g2.id}/tags/red`).expect(201);
      assert.deepEqual((await call(u.a, 'get', `/security-groups/${g2.id}`)).body.security_group.tags, [
        'red',
      ]);
      await call(u.a, 'delete', `/security-groups/${g1.id}`).expect(204);
      assert.equal(await count(db, 'neutron_tags', { resource_id: g1.id }), 0);
    });

    it('quotas: groups and rules per project, 409 OverQuota, nothing half made', async () => {
      const pq = await api.createProject('pq-sg');
      const uq = await api.createUser('uq-sg', 'pw-q-secret');
      await api.grant(pq.id, uq.id, 'member');
      const q = await api.tokenFor(uq.id, 'pw-q-secret', pq.id);
      await call(u.admin, 'put', `/quotas/${pq.id}`, {
        quota: { security_group: 3, security_group_rule: 9 },
      }).expect(200);
      // default (4 rules) + 2 groups (2 rules each) = 3 groups, 8 rules
      const a = await newGroup(q, 'q1');
      await newGroup(q, 'q2');
      assertNeutronError(
        await call(q, 'post', '/security-groups', { security_group: { name: 'q3' } }),
        409,
        'OverQuota',
        /security_group/,
      );
      assert.equal(await count(db, 'security_groups', { project_id: pq.id }), 3);
      await call(q, 'post', '/security-group-rules', rule(a.id, { protocol: 'tcp' })).expect(201);
      assertNeutronError(
        await call(q, 'post', '/security-group-rules', rule(a.id, { protocol: 'udp' })),
        409,
        'OverQuota',
        /security_group_rule/,
      );
      assert.equal(await count(db, 'security_group_rules', { project_id: pq.id }), 9);
      const details = (await call(q, 'get', `/quotas/${pq.id}/details`)).body.quota;
      assert.deepEqual(details.security_group, { limit: 3, used: 3, reserved: 0 });
      assert.deepEqual(details.security_group_rule, { limit: 9, used: 9, reserved: 0 });
    });

    it('ports: default group binding, a group in use cannot go, remote groups resolve to member addresses', async () => {
      const net = (await call(u.a, 'post', '/networks', { network: { name: 'sgnet' } })).body.network;
      const subnet = await call(u.a, 'post', '/subnets', {
        subnet: { network_id: net.id, ip_version: 4, cidr: '10.77.0.0/24' },
      });
      assert.equal(subnet.status, 201, JSON.stringify(subnet.body));
      const sg = await newGroup(u.a, 'members');
      await call(
        u.a,
        'post',
        '/security-group-rules',
        rule(sg.id, { protocol: 'tcp', port_range_min: 22, port_range_max: 22, remote_group_id: sg.id }),
      ).expect(201);
      await call(
        u.a,
        'post',
        '/security-group-rules',
        rule(sg.id, {
          protocol: 'tcp',
          port_range_min: 80,
          port_range_max: 80,
          remote_ip_prefix: '203.0.113.9/24',
        }),
      ).expect(201);
      const p1 = await call(u.a, 'post', '/ports', {
        port: { network_id: net.id, security_groups: [sg.id] },
      });
      assert.equal(p1.status, 201, JSON.stringify(p1.body));
      const p2 = (
        await call(u.a, 'post', '/ports', { port: { network_id: net.id, security_groups: [sg.id] } })
      ).body.port;
      const plain = (await call(u.a, 'post', '/ports', { port: { network_id: net.id } })).body.port;
      const def = (await call(u.a, 'get', '/security-groups?name=default')).body.security_groups[0];
      assert.deepEqual(plain.security_groups, [def.id]);
      assertNeutronError(
        await call(u.a, 'delete', `/security-groups/${sg.id}`),
        409,
        'SecurityGroupInUse',
        new RegExp(sg.id),
      );
      const bOwn = await newGroup(u.b, 'not-yours');
      assertNeutronError(
        await call(u.a, 'post', '/ports', { port: { network_id: net.id, security_groups: [bOwn.id] } }),
        404,
        'SecurityGroupNotFound',
      );

      const realized = await realizedRulesForPorts(db, [
        p1.body.port.id,
        plain.id,
        '00000000-0000-0000-0000-000000000001',
      ]);
      const ips = [p1.body.port, p2].map((p) => `${p.fixed_ips[0].ip_address}/32`).sort();
      const r1 = realized.get(p1.body.port.id) ?? [];
      assert.deepEqual(
        r1.find((r) => r.portRangeMin === 22),
        {
          direction: 'ingress',
          ethertype: 'IPv4',
          protocol: 'tcp',
          portRangeMin: 22,
          portRangeMax: 22,
          remotePrefixes: ips,
        },
      );
      assert.deepEqual(r1.find((r) => r.portRangeMin === 80)?.remotePrefixes, ['203.0.113.0/24']);
      assert.equal(r1.filter((r) => r.direction === 'egress').length, 2);
      // The default group's self-ingress names the default group's only member.
      const rd = realized.get(plain.id) ?? [];
      assert.deepEqual(rd.find((r) => r.direction === 'ingress' && r.ethertype === 'IPv4')?.remotePrefixes, [
        `${plain.fixed_ips[0].ip_address}/32`,
      ]);
      assert.deepEqual(
        rd.find((r) => r.direction === 'ingress' && r.ethertype === 'IPv6')?.remotePrefixes,
        [],
      );
      assert.deepEqual(realized.get('00000000-0000-0000-0000-000000000001'), []);

      // Unbinding frees the group; deleting a port removes its bindings.
      await call(u.a, 'put', `/ports/${p1.body.port.id}`, { port: { security_groups: [] } }).expect(200);
      await call(u.a, 'delete', `/ports/${p2.id}`).expect(204);
      assert.equal(await count(db, 'security_group_port_bindings', { security_group_id: sg.id }), 0);
      await call(u.a, 'delete', `/security-groups/${sg.id}`).expect(204);
    });
  });
}
