/**
 * kvmstack itself in the lab: one API in the root namespace, listening on the root ns end of the management
 * network (every host reaches it there), and one host agent inside each host's namespaces.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig } from '../../src/common/config/load.js';
import { openDatabase } from '../../src/db/connection.js';
import { migrateLatest } from '../../src/db/migrate.js';
import { KeyRepository } from '../../src/identity/tokens/keys.js';
import { runBootstrap } from '../cli/bootstrap.js';
import { agentConf, apiConf } from './config-files.js';
import { livePidFrom, pidAlive, sleep, stopByPidFile, waitFor } from './exec.js';
import { nsenterArgs } from './host.js';
import { AGENT_MAIN, CLI_MAIN } from './repo.js';
import { ROOT_MGMT_IP, type LabHost, type LabPaths } from './topology.js';

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
function daemonEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('KVMSTACK_')));
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthcheck`)).ok;
  } catch {
    return false;
  }
}

/** Configures, migrates and bootstraps a fresh API under <state>/api and starts it in the background. */
export async function startApi(p: LabPaths, port: number): Promise<LabApi> {
  mkdirSync(p.api, { recursive: true, mode: 0o700 });
  const configFile = join(p.api, 'kvmstack.conf');
  const enrollmentSecret = randomBytes(18).toString('base64url');
  const adminPassword = randomBytes(12).toString('base64url');
  writeFileSync(
    configFile,
    apiConf({ dataDir: p.api, listen: ROOT_MGMT_IP, port, enrollmentSecret, adminPassword }),
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
  const out = openSync(join(p.api, 'kvmstack-api.out'), 'a');
  const child = spawn(process.execPath, [CLI_MAIN, '--config', configFile, 'api', '--pid-file', pidFile], {
    detached: true,
    stdio: ['ignore', out, out],
    env: daemonEnv(),
  });
  closeSync(out);
  child.unref();
  const outFile = join(p.api, 'kvmstack-api.out');
  await waitFor(`the lab API at ${url}`, () => healthy(url), 30_000, 200).catch((err: Error) => {
    const tail = existsSync(outFile)
      ? readFileSync(outFile, 'utf8').trim().split('\n').slice(-5).join('\n')
      : '';
    throw new Error(`${err.message}${tail ? `:\n${tail}` : ''}`);
  });
  const openrc = join(p.api, 'openrc');
  writeFileSync(
    openrc,
    [
      `export OS_AUTH_URL=${url}/identity/v3`,
      'export OS_IDENTITY_API_VERSION=3',
      `export OS_USERNAME=${config.bootstrap.admin_username}`,
      `export OS_PASSWORD=${adminPassword}`,
      `export OS_PROJECT_NAME=${config.bootstrap.admin_project}`,
      'export OS_USER_DOMAIN_NAME=Default',
      'export OS_PROJECT_DOMAIN_NAME=Default',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return { url, port, configFile, pidFile, enrollmentSecret, adminPassword, openrc };
}

/**
 * Writes each host's agent configuration and starts `node dist/host-agent/main.js --config FILE` inside the
 * host's namespaces. Returns the hosts whose agent runs; none when the agent is not built.
 */
export async function startAgents(
  hosts: readonly LabHost[],
  api: Pick<LabApi, 'url' | 'enrollmentSecret'>,
  p: LabPaths,
  say: (s: string) => void,
): Promise<string[]> {
  if (!existsSync(AGENT_MAIN)) {
    say(`host agents not started: ${AGENT_MAIN} does not exist (build the host agent first)`);
    return [];
  }
  const started: string[] = [];
  for (const h of hosts) {
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
      }),
      { mode: 0o600 },
    );
    const out = openSync(join(dir, 'agent.out'), 'a');
    // nsenter execs node: the child's pid is the agent's (which writes the same pid file once it has joined)
    const child = spawn('nsenter', [...nsenterArgs(h), process.execPath, AGENT_MAIN, '--config', conf], {
      detached: true,
      stdio: ['ignore', out, out],
      env: daemonEnv(),
    });
    closeSync(out);
    child.unref();
    writeFileSync(h.pidFile.agent, `${child.pid}\n`);
    started.push(h.name);
  }
  await sleep(1500);
  for (const h of hosts.filter((x) => started.includes(x.name))) {
    if (livePidFrom(h.pidFile.agent) === null)
      say(`the agent of ${h.name} exited at once: see ${join(h.dir, 'agent')}/agent.out`);
  }
  return started.filter((n) => livePidFrom(hosts.find((h) => h.name === n)!.pidFile.agent) !== null);
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
