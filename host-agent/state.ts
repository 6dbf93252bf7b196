import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What the agent keeps across restarts, in <state_dir>/agent-state.json (mode 0600: it holds credentials). */
export interface AgentState {
  /** This machine's identity in the cluster, made once. */
  hostUuid: string;
  /** Set by enrollment. */
  hostId: string | null;
  credential: string | null;
  rpcSecret: string | null;
  /** The API this host enrolled with: a different API means enrolling again. */
  apiUrl: string | null;
  generations: Record<string, number>;
  consoleLogs: Record<string, string>;
}

export function loadState(stateDir: string): AgentState {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const file = join(stateDir, 'agent-state.json');
  if (!existsSync(file)) {
    return {
      hostUuid: randomUUID(),
      hostId: null,
      credential: null,
      rpcSecret: null,
      apiUrl: null,
      generations: {},
      consoleLogs: {},
    };
  }
  return JSON.parse(readFileSync(file, 'utf8')) as AgentState;
}

export function saveState(stateDir: string, state: AgentState): void {
  const file = join(stateDir, 'agent-state.json');
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
  renameSync(`${file}.tmp`, file);
}
