/**
 * kvmstack itself in the lab: one API in the root namespace, listening on the root ns end of the management
 * network (every host reaches it there), and one host agent inside each host's namespaces.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/common/config/load.js';
import { openDatabase } from '../../src/db/connection.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { KeyRepository } from '../../src/identity/tokens/keys.js';
import { runBootstrap } from '../cli/bootstrap.js';
import { agentConf, apiConf, type AgentTuning } from './config-files.js';
import { livePidFrom, pidAlive, stopByPidFile } from '../../src/common/pidfile.js';
import { sleep, waitFor } from './exec.js';
import { nsenterArgs } from './host.js';
import { run, tryRun } from '../../src/common/exec.js';
import { AGENT_MAIN, CLI_MAIN, apiHealthy, envWithout, openrcText, startDetached } from '../cli/daemons.js';
import { GLUSTER_VOLUME, ROOT_MGMT_IP, type LabHost, type LabPaths } from './topology.js';

export interface LabApi {
  url: string;
  port: number;
  configFile: string;
  pidFile: string;
  enrollmentSecret: string;
  adminPassword: string;
  openrc: string;
}

export const AGENT_RPC_PORT = 5100;

/** The environment of a lab daemon: nothing of the caller's kvmstack settings leaks in. */
const daemonEnv = () => envWithout((k) => k.startsWith('KVMSTACK_'));

/** Whether the Gluster volume is mounted at the API's store path in the root ns. */
export function apiStoreMounted(p: LabPaths): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.split(' ')[4] === p.apiStore && l.includes('fuse.glusterfs'));
}

/**
 * The API runs in the root ns and writes Glance images to the store every host mounts: the same Gluster
 * volume, mounted here too (its FUSE client lives until `lab down` unmounts it).
 */
export async function mountApiStore(p: LabPaths): Promise<void> {
  if (apiStoreMounted(p)) return;
  mkdirSync(p.apiStore, { recursive: true });
  await run('mount', [
    ...['-t', 'glusterfs', '-o', `log-file=${join(p.glusterLog, 'fuse-api.log')}`],
    ...[`127.0.0.1:/${GLUSTER_VOLUME}`, p.apiStore],
  ]);
}

/** Unmounts the API's store (lazily if busy) and removes the empty mount point; never deletes through a mount. */
export async function unmountApiStore(p: LabPaths): Promise<boolean> {
  let was = false;
  if (apiStoreMounted(p)) {
    was = true;
    if ((await tryRun('umount', [p.apiStore], 15_000)).code !== 0) await tryRun('umount', ['-l', p.apiStore]);
  }
  if (apiStoreMounted(p)) throw new Error(`${p.apiStore} is still mounted`);
  if (existsSync(p.apiStore)) rmdirSync(p.apiStore);
  return was;
}

/** Configures, migrates and bootstraps a fresh API under <state>/api and starts it in the background. */
export async function startApi(p: LabPaths, port: number): Promise<LabApi> {
  mkdirSync(p.api, { recursive: true, mode: 0o700 });
  await mountApiStore(p);
  const configFile = join(p.api, 'kvmstack.conf');
  const enrollmentSecret = randomBytes(18).toString('base64url');
  const adminPassword = randomBytes(12).toString('base64url');
  writeFileSync(
    configFile,
    apiConf({
      dataDir: p.api,
      listen: ROOT_MGMT_IP,
      port,
      enrollmentSecret,
      adminPassword,
      imageStoreDir: p.apiStore,
    }),
    { mode: 0o600 },
  );
  const config = loadConfig({ file: configFile, env: {} });
  new KeyRepository(config.token.key_repository).ensure();
  const knex = openDatabase(config.database.connection);
  try {
    await migrateLatest(knex);
  } finally {
    await knex.destroy();
  }
  await runBootstrap(config);

  const url = `http://${ROOT_MGMT_IP}:${port}`;
  const pidFile = config.api.pid_file;
  const outFile = join(p.api, 'kvmstack-api.out');
  startDetached({
    args: [CLI_MAIN, '--config', configFile, 'api', '--pid-file', pidFile],
    logFile: outFile,
    env: daemonEnv(),
  });
  await waitFor(`the lab API at ${url}`, () => apiHealthy(url), 30_000, 200).catch((err: Error) => {
    const tail = existsSync(outFile)
      ? readFileSync(outFile, 'utf8').trim().split('\n').slice(-5).join('\n')
      : '';
    throw new Error(`${err.message}${tail ? `:\n${tail}` : ''}`);
  });
  const openrc = join(p.api, 'openrc');
  const c = config.bootstrap;
  writeFileSync(
    openrc,
    openrcText({
      authUrl: `${url}/identity/v3`,
      username: c.admin_username,
      password: adminPassword,
      project: c.admin_project,
      region: config.DEFAULT.region,
    }),
    { mode: 0o600 },
  );
  return { url, port, configFile, pidFile, enrollmentSecret, adminPassword, openrc };
}

/**
 * Writes one host's agent configuration and starts `node dist/host-agent/main.js --config FILE` inside the
 * host's namespaces (also to restart a stopped agent: it keeps its enrollment in its state dir). Returns its pid.
 */
export function startAgent(
  h: LabHost,
  api: Pick<LabApi, 'url' | 'enrollmentSecret'>,
  p: LabPaths,
  tuning: AgentTuning = {},
): number {
  const dir = join(h.dir, 'agent');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const conf = join(dir, 'agent.conf');
  writeFileSync(
    conf,
    agentConf({
      apiUrl: api.url,
      enrollmentSecret: api.enrollmentSecret,
      host: h,
      rpcPort: AGENT_RPC_PORT,
      stateDir: dir,
      storeMount: p.store,
      tuning,
    }),
    { mode: 0o600 },
  );
  // nsenter execs node: the child's pid is the agent's (which writes the same pid file once it has joined)
  const pid = startDetached({
    prefix: ['nsenter', ...nsenterArgs(h)],
    args: [AGENT_MAIN, '--config', conf],
    logFile: join(dir, 'agent.out'),
    env: daemonEnv(),
  });
  writeFileSync(h.pidFile.agent, `${pid}\n`);
  return pid;
}

/** Starts every host's agent. Returns the hosts whose agent runs; none when the agent is not built. */
export async function startAgents(
  hosts: readonly LabHost[],
  api: Pick<LabApi, 'url' | 'enrollmentSecret'>,
  p: LabPaths,
  say: (s: string) => void,
  tuning: AgentTuning = {},
): Promise<string[]> {
  if (!existsSync(AGENT_MAIN)) {
    say(`host agents not started: ${AGENT_MAIN} does not exist (build the host agent first)`);
    return [];
  }
  for (const h of hosts) startAgent(h, api, p, tuning);
  await sleep(1500);
  for (const h of hosts) {
    if (livePidFrom(h.pidFile.agent) === null)
      say(`the agent of ${h.name} exited at once: see ${join(h.dir, 'agent')}/agent.out`);
  }
  return hosts.filter((h) => livePidFrom(h.pidFile.agent) !== null).map((h) => h.name);
}

export async function stopAgent(h: LabHost): Promise<boolean> {
  return stopByPidFile(h.pidFile.agent, 'host-agent/main.js', 10_000);
}

export async function stopApi(p: LabPaths): Promise<boolean> {
  const pidFile = join(p.api, 'kvmstack-api.pid');
  const pid = livePidFrom(pidFile);
  const stopped = await stopByPidFile(pidFile, 'main.js', 15_000);
  if (pid !== null) await waitFor('the lab API to exit', () => !pidAlive(pid), 5000).catch(() => undefined);
  return stopped;
}
