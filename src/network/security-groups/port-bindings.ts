/**
 * What the rest of the network service needs from security groups (the contract between ports and groups).
 * CONTRACT STUB: the security-groups work replaces these bodies; the signatures are fixed.
 */
import type { Knex } from 'knex';
import type { RealizedRule } from '../realization.js';

/** The project's `default` group, created on first use as Neutron does (safe under concurrency); its id. */
export async function ensureDefaultSecurityGroup(
  db: Knex,
  projectId: string,
  nowMs: number,
): Promise<string> {
  void db;
  void projectId;
  void nowMs;
  throw new Error('not implemented');
}

/**
 * Binds the port to exactly these groups (replacing earlier bindings). Every group must exist and belong to the
 * port's project (or the caller is admin): else 404 NeutronError type SecurityGroupNotFound. Runs inside the
 * caller's transaction when given one.
 */
export async function setPortSecurityGroups(
  db: Knex,
  port: { id: string; projectId: string },
  groupIds: string[],
  callerIsAdmin: boolean,
): Promise<void> {
  void db;
  void port;
  void groupIds;
  void callerIsAdmin;
  throw new Error('not implemented');
}

/** The group ids bound to each port (ports without groups map to []). */
export async function portSecurityGroupIds(db: Knex, portIds: string[]): Promise<Map<string, string[]>> {
  void db;
  void portIds;
  throw new Error('not implemented');
}

/** Per port: the union of its groups' rules with remote groups resolved to their members' addresses. */
export async function realizedRulesForPorts(
  db: Knex,
  portIds: string[],
): Promise<Map<string, RealizedRule[]>> {
  void db;
  void portIds;
  throw new Error('not implemented');
}
