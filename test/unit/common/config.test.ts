import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, optionTableMarkdown } from '../../../src/common/config/load.js';
import { OPTIONS, envName } from '../../../src/common/config/options.js';
import { AGENT_OPTIONS } from '../../../host-agent/config.js';
import { checkSegmentOptions } from '../../../src/network/networks/segments.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'kvmstack-conf-'));

describe('config', () => {
  it('has typed defaults and resolves ${section.name} references', () => {
    const c = loadConfig({ env: {} });
    assert.equal(c.api.port, 5000);
    assert.equal(c.token.expiration, 3600);
    assert.equal(c.api.metrics_enabled, true);
    assert.equal(c.database.connection, 'sqlite:///var/lib/kvmstack/kvmstack.sqlite');
    assert.equal(c.token.key_repository, '/var/lib/kvmstack/jws-keys');
    assert.equal(c.compute.novaclient_max_microversion, '2.13');
  });

  it('reads an INI file with a [DEFAULT] section; environment beats file; overrides beat both', () => {
    const dir = tmp();
    const file = join(dir, 'k.conf');
    writeFileSync(file, 'data_dir = /srv/k\n[api]\nport = 6000\n[token]\nexpiration = 120\n');
    const c = loadConfig({
      file,
      env: { KVMSTACK_TOKEN_EXPIRATION: '300' },
      overrides: { 'api.port': 7000 },
    });
    assert.equal(c.DEFAULT.data_dir, '/srv/k');
    assert.equal(c.token.key_repository, '/srv/k/jws-keys');
    assert.equal(c.token.expiration, 300);
    assert.equal(c.api.port, 7000);
    assert.equal(c.file, file);
  });

  it('refuses unknown options, bad types and out-of-range values with the option named', () => {
    const dir = tmp();
    const file = join(dir, 'k.conf');
    writeFileSync(file, '[api]\nprot = 1\n');
    assert.throws(
      () => loadConfig({ file, env: {} }),
      (e: Error) => e instanceof ConfigError && /\[api\] prot/.test(e.message),
    );
    assert.throws(
      () => loadConfig({ env: { KVMSTACK_API_PORT: 'http' } }),
      /\[api\] port: expected an integer/,
    );
    assert.throws(() => loadConfig({ env: { KVMSTACK_API_PORT: '70000' } }), /must be <= 65535/);
    assert.throws(() => loadConfig({ env: { KVMSTACK_API_METRICS_ENABLED: 'maybe' } }), /expected a boolean/);
    assert.throws(() => loadConfig({ file: join(dir, 'missing.conf'), env: {} }), /does not exist/);
    assert.throws(
      () => loadConfig({ env: { KVMSTACK_NETWORK_TENANT_NETWORK_TYPE: 'gre' } }),
      /\[network\] tenant_network_type: must be one of vlan, vxlan, got "gre"/,
    );
    assert.equal(
      loadConfig({ env: { KVMSTACK_NETWORK_TENANT_NETWORK_TYPE: 'vxlan' } }).network.tenant_network_type,
      'vxlan',
    );
  });

  it('checks the network segment ranges at start-up', () => {
    const config = (env: Record<string, string>) => loadConfig({ env });
    assert.doesNotThrow(() => checkSegmentOptions(config({})));
    assert.throws(
      () => checkSegmentOptions(config({ KVMSTACK_NETWORK_VNI_RANGES: '10:5' })),
      (e: Error) => e instanceof ConfigError && /vni_ranges: invalid entry '10:5'/.test(e.message),
    );
    assert.throws(
      () => checkSegmentOptions(config({ KVMSTACK_NETWORK_NETWORK_VLAN_RANGES: 'physnet1:0:5000' })),
      (e: Error) => e instanceof ConfigError && /network_vlan_ranges: invalid entry/.test(e.message),
    );
  });

  it('derives environment names and documents every option in one table', () => {
    assert.equal(envName({ section: 'DEFAULT', name: 'data_dir' }), 'KVMSTACK_DATA_DIR');
    assert.equal(envName({ section: 'database', name: 'connection' }), 'KVMSTACK_DATABASE_CONNECTION');
    const table = optionTableMarkdown();
    for (const o of OPTIONS) assert.ok(table.includes(`| \`${o.name}\` |`), o.name);
  });

  it('the README option tables are the generated ones (run `npm run docs:config` after adding an option)', () => {
    const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(optionTableMarkdown()), 'README.md API option table is stale');
    assert.ok(readme.includes(optionTableMarkdown(AGENT_OPTIONS)), 'README.md agent option table is stale');
  });
});
