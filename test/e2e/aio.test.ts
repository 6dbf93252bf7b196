/**
 * The all-in-one command itself: `kvmstack up` (first run, then again), `status`, `stop`, and `up` after a stop,
 * each run as a separate process as an operator would.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isAlive, issueToken, parseOpenrc, startKvmstack, type Kvmstack } from './support.js';

const lines = (out: string) => out.split('\n');
const hasLine = (out: string, re: RegExp) => lines(out).some((l) => re.test(l));
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const listTree = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => `${f}:${statSync(join(dir, f)).isFile() ? readFileSync(join(dir, f), 'utf8').length : 'dir'}`)
    .sort();

describe('kvmstack up / status / stop (all-in-one)', { timeout: 120_000 }, () => {
  let cloud: Kvmstack;
  let openrcPath: string;
  let openrcText: string;
  let keysBefore: string[];
  let firstPid: number;
  /** Issued before the stop: must still validate after the restart (same keys, same database). */
  let keptToken: string;
  /** Revoked before the stop: must stay revoked after the restart. */
  let revokedToken: string;

  before(async () => {
    // the full all-in-one (with its compute host); `up` generates the admin password, as an operator gets it
    cloud = await startKvmstack({ adminPassword: null, apiOnly: false });
    openrcPath = join(cloud.dataDir, 'openrc');
    firstPid = cloud.apiPid() ?? -1;
  });
  after(() => cloud?.stop());

  const validate = (subject: string, auth: string) =>
    fetch(`${cloud.localUrl}/identity/v3/auth/tokens`, {
      headers: { 'X-Auth-Token': auth, 'X-Subject-Token': subject },
    });

  it('first up: writes the config, keys, database, admin, starts the API and prints the openrc and the password', async () => {
    const out = cloud.upOutput;
    assert.ok(hasLine(out, new RegExp(`^==> wrote ${esc(cloud.configFile)}$`)), out);
    assert.ok(hasLine(out, /^==> created the token signing key in .*jws-keys$/), out);
    assert.ok(hasLine(out, /^==> database migrated \(001_identity(, \w+)*\)$/), out);
    assert.ok(hasLine(out, /^==> bootstrapped: \d+ change\(s\)$/), out);
    const pw = new RegExp(
      `^==> wrote ${esc(openrcPath)} and ${esc(join(cloud.dataDir, 'clouds.yaml'))} \\(admin password: (\\S+)\\)$`,
    );
    const password = lines(out)
      .map((l) => pw.exec(l)?.[1])
      .find(Boolean);
    assert.ok(password, out);
    assert.ok(password.length >= 16, 'a generated password of some strength');
    assert.equal(password, cloud.adminPassword, 'the password printed is the one in the openrc');
    const started = /^==> API started \(pid (\d+)\)/m.exec(out);
    assert.ok(started, out);
    assert.equal(Number(started[1]), firstPid, 'the pid file names the process up started');
    assert.ok(out.includes(`kvmstack is up at ${cloud.url}\n`), out);
    assert.ok(out.includes(`source ${openrcPath}\n`), out);
    assert.ok(
      out.includes(`export OS_CLIENT_CONFIG_FILE=${join(cloud.dataDir, 'clouds.yaml')} OS_CLOUD=kvmstack`),
      out,
    );

    const config = readFileSync(cloud.configFile, 'utf8');
    assert.match(config, new RegExp(`^port = ${cloud.port}$`, 'm'));
    assert.match(config, new RegExp(`^data_dir = ${esc(cloud.dataDir)}$`, 'm'));
    openrcText = readFileSync(openrcPath, 'utf8');
    assert.equal(statSync(openrcPath).mode & 0o777, 0o600, 'the openrc holds a password: 0600');
    assert.equal(statSync(join(cloud.dataDir, 'clouds.yaml')).mode & 0o777, 0o600);
    const rc = parseOpenrc(openrcText);
    assert.equal(rc.OS_AUTH_URL, `${cloud.url}/identity/v3`);
    assert.equal(rc.OS_USERNAME, 'admin');
    assert.equal(rc.OS_PROJECT_NAME, 'admin');
    assert.equal(rc.OS_IDENTITY_API_VERSION, '3');
    assert.equal(rc.OS_REGION_NAME, 'RegionOne');
    assert.match(
      readFileSync(join(cloud.dataDir, 'clouds.yaml'), 'utf8'),
      new RegExp(`password: "${esc(password)}"`),
    );
    keysBefore = listTree(join(cloud.dataDir, 'jws-keys'));
    assert.ok(keysBefore.length > 0);

    // the credentials work with the real CLI
    const token = await cloud.run<{ user_id: string; project_id: string; id: string }>(
      ['token', 'issue'],
      rc,
    );
    assert.match(token.user_id, /^[0-9a-f]{32}$/);

    // the local compute host: image, libvirtd, and an agent that joined the API as an enabled host
    assert.ok(hasLine(out, /^==> (built the tiny guest image|tiny guest image present)/), out);
    assert.ok(hasLine(out, /^==> (libvirtd is running|started virtlogd, virtlockd, libvirtd)/), out);
    assert.ok(hasLine(out, /^==> host agent started \(pid \d+\) and joined/), out);
    const hosts = (await (
      await fetch(`${cloud.localUrl}/kvmstack/v1/hosts`, { headers: { 'X-Auth-Token': token.id } })
    ).json()) as {
      hosts: {
        enabled: boolean;
        last_report_age_s: number;
        stores: { state: string; type: string }[];
        inventory: { virtType: string };
      }[];
    };
    assert.equal(hosts.hosts.length, 1);
    assert.equal(hosts.hosts[0].enabled, true);
    assert.ok(hosts.hosts[0].last_report_age_s < 5);
    assert.deepEqual(
      hosts.hosts[0].stores.map((x) => [x.type, x.state]),
      [['dir', 'ok']],
    );
    assert.match(hosts.hosts[0].inventory.virtType, /^(kvm|qemu)$/);
  });

  it('second up: everything already in place, the same API, no new password, the openrc untouched', async () => {
    const res = await cloud.cli(['up']);
    assert.equal(res.code, 0, res.stderr);
    const out = res.stdout;
    assert.ok(hasLine(out, new RegExp(`^==> using ${esc(cloud.configFile)}$`)), out);
    assert.ok(hasLine(out, /^==> token signing keys present in .*jws-keys$/), out);
    assert.ok(hasLine(out, /^==> database schema is up to date$/), out);
    assert.ok(hasLine(out, /^==> admin user, project, roles and catalog already in place$/), out);
    assert.ok(hasLine(out, new RegExp(`^==> API already running \\(pid ${firstPid}\\)$`)), out);
    assert.doesNotMatch(out, /admin password/);
    assert.doesNotMatch(out, /API started|created|migrated|bootstrapped|wrote/);
    assert.equal(readFileSync(openrcPath, 'utf8'), openrcText);
    assert.deepEqual(listTree(join(cloud.dataDir, 'jws-keys')), keysBefore, 'no new signing key');
    assert.equal(cloud.apiPid(), firstPid);
    assert.ok(hasLine(out, /^==> host agent already running \(pid \d+\)$/), out);
    const t = await cloud.run<{ id: string }>(['token', 'issue']);
    assert.ok(t.id.length > 100);
  });

  it('status reports the API running and healthy, and where the credentials are', async () => {
    const res = await cloud.cli(['status']);
    assert.equal(res.code, 0, res.stdout + res.stderr);
    assert.match(
      res.stdout,
      new RegExp(
        `^api: running \\(pid ${firstPid}\\), healthy\nhost agent: running \\(pid \\d+\\)\ncredentials: ${esc(openrcPath)}\n$`,
      ),
    );
  });

  it('stop: the process is gone, /healthcheck no longer answers, status says stopped', async () => {
    keptToken = await issueToken(cloud.localUrl, {
      name: 'admin',
      password: cloud.adminPassword,
      project: 'admin',
    });
    revokedToken = await issueToken(cloud.localUrl, {
      name: 'admin',
      password: cloud.adminPassword,
      project: 'admin',
    });
    const del = await fetch(`${cloud.localUrl}/identity/v3/auth/tokens`, {
      method: 'DELETE',
      headers: { 'X-Auth-Token': keptToken, 'X-Subject-Token': revokedToken },
    });
    assert.equal(del.status, 204);
    assert.equal((await fetch(`${cloud.localUrl}/healthcheck`)).status, 200);

    const res = await cloud.cli(['stop']);
    assert.equal(res.code, 0, res.stderr);
    assert.match(
      res.stdout,
      new RegExp(`^==> host agent stopped \\(pid \\d+\\)\n==> API stopped \\(pid ${firstPid}\\)\n`),
    );
    // `stop` returns only once the process itself has exited
    assert.equal(isAlive(firstPid), false, 'the API process has exited');
    assert.equal(cloud.apiPid(), null, 'no live pid file');
    await assert.rejects(fetch(`${cloud.localUrl}/healthcheck`), 'nothing listens any more');

    const status = await cloud.cli(['status']);
    assert.equal(status.code, 1);
    assert.match(status.stdout, /^api: stopped$/m);
    const again = await cloud.cli(['stop']);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^==> host agent is not running\n==> API is not running\n$/);
  });

  it('up after stop restarts the API; the old openrc, tokens and revocations carry over', async () => {
    const res = await cloud.cli(['up']);
    assert.equal(res.code, 0, res.stderr);
    const started = /^==> API started \(pid (\d+)\)/m.exec(res.stdout);
    assert.ok(started, res.stdout);
    const pid = Number(started[1]);
    assert.notEqual(pid, firstPid);
    assert.equal(cloud.apiPid(), pid);
    assert.doesNotMatch(res.stdout, /admin password|created|migrated|bootstrapped/);
    assert.equal(readFileSync(openrcPath, 'utf8'), openrcText, 'the openrc is the same file');
    assert.equal((await fetch(`${cloud.localUrl}/healthcheck`)).status, 200);

    // the openrc written by the first up, as `source openrc` would give it
    const rc = parseOpenrc(openrcText);
    const t = await cloud.run<{ id: string; project_id: string }>(['token', 'issue'], rc);
    const projects = await cloud.run<{ ID: string; Name: string }[]>(['project', 'list'], rc);
    assert.deepEqual(
      projects.filter((p) => p.Name === 'admin').map((p) => p.ID),
      [t.project_id],
    );
    assert.equal(
      (await validate(keptToken, t.id)).status,
      200,
      'a token from before the restart still validates',
    );
    assert.equal(
      (await validate(revokedToken, t.id)).status,
      404,
      'a token revoked before the restart stays revoked',
    );

    const status = await cloud.cli(['status']);
    assert.match(
      status.stdout,
      new RegExp(`^api: running \\(pid ${pid}\\), healthy\nhost agent: running \\(pid \\d+\\)\n`),
    );
  });

  it('up again with the same KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD changes nothing', async () => {
    const res = await cloud.cli(['up'], { KVMSTACK_BOOTSTRAP_ADMIN_PASSWORD: cloud.adminPassword });
    assert.equal(res.code, 0, res.stderr);
    assert.ok(
      hasLine(res.stdout, /^==> admin user, project, roles and catalog already in place$/),
      res.stdout,
    );
  });
});
