/**
 * kvmstack's own long-running processes (the API, host agents) as the CLI and the lab start them: detached,
 * logging to a file, known by a pid file; and the credentials files clients use to reach the API.
 */
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: this module runs from dist/tools/cli/. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const CLI_MAIN = join(REPO_ROOT, 'dist', 'tools', 'cli', 'main.js');
export const AGENT_MAIN = join(REPO_ROOT, 'dist', 'host-agent', 'main.js');

/** The caller's environment without the variables `drop` names (e.g. secrets a daemon must not keep). */
export function envWithout(drop: (name: string) => boolean): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !drop(k)));
}

export async function apiHealthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/healthcheck`)).ok;
  } catch {
    return false;
  }
}

export async function waitHealthy(url: string, seconds: number): Promise<boolean> {
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline) {
    if (await apiHealthy(url)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

/**
 * Starts `node <cmd> <args>` (or `prefix... node ...`, e.g. nsenter into a lab host) detached, its output
 * appended to logFile. Returns the pid; the process writes its own pid file.
 */
export function startDetached(opts: {
  args: string[];
  logFile: string;
  env: NodeJS.ProcessEnv;
  prefix?: string[];
}): number {
  mkdirSync(dirname(opts.logFile), { recursive: true });
  const out = openSync(opts.logFile, 'a');
  const [file, ...args] = [...(opts.prefix ?? []), process.execPath, ...opts.args];
  const child = spawn(file, args, { detached: true, stdio: ['ignore', out, out], env: opts.env });
  closeSync(out);
  child.unref();
  return child.pid as number;
}

export interface Credentials {
  authUrl: string;
  username: string;
  password: string;
  project: string;
  region: string;
}

/** An openrc for the openstack CLI. */
export function openrcText(c: Credentials): string {
  return [
    `export OS_AUTH_URL=${c.authUrl}`,
    'export OS_IDENTITY_API_VERSION=3',
    `export OS_USERNAME=${c.username}`,
    `export OS_PASSWORD='${c.password.replace(/'/g, `'\\''`)}'`,
    `export OS_PROJECT_NAME=${c.project}`,
    'export OS_USER_DOMAIN_NAME=Default',
    'export OS_PROJECT_DOMAIN_NAME=Default',
    `export OS_REGION_NAME=${c.region}`,
    '',
  ].join('\n');
}

/** A clouds.yaml with one cloud named `kvmstack`, for openstacksdk and the CLI (OS_CLOUD=kvmstack). */
export function cloudsYamlText(c: Credentials): string {
  return [
    'clouds:',
    '  kvmstack:',
    '    auth:',
    `      auth_url: ${c.authUrl}`,
    `      username: ${c.username}`,
    `      password: ${JSON.stringify(c.password)}`,
    `      project_name: ${c.project}`,
    '      user_domain_name: Default',
    '      project_domain_name: Default',
    `    region_name: ${c.region}`,
    '    identity_api_version: 3',
    '',
  ].join('\n');
}
