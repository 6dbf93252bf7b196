/**
 * IP address management for ports: the first free address of a subnet's pools, or a requested one, recorded in
 * ip_allocations whose unique (network_id, ip_address) is the last word. Callers lock the subnet row first
 * (lockRow), so on MariaDB allocations in one subnet are serialized and, with READ COMMITTED, see each other;
 * SQLite serializes write transactions anyway. A duplicate key that still happens is retried by withRetry.
 */
import type { Knex } from 'knex';
import { conflict } from '../common/errors.js';
import { lockRow } from '../common/db.js';
import { intToIp } from '../ip.js';
import { loadPools } from '../subnets/service.js';

/** The lowest free address of the subnet's pools, or null when they are exhausted. */
export async function firstFreeAddress(trx: Knex, subnetId: string): Promise<number | null> {
  await lockRow(trx, 'subnets', { id: subnetId });
  const pools = (await loadPools(trx, [subnetId])).get(subnetId) ?? [];
  for (const pool of pools) {
    const taken = await trx('ip_allocations')
      .where({ subnet_id: subnetId, ip_int: pool.first })
      .first('ip_int');
    if (!taken) return pool.first;
    // The lowest allocated address in the pool whose successor is free: that successor.
    const row = (await trx('ip_allocations as a')
      .where('a.subnet_id', subnetId)
      .where('a.ip_int', '>=', pool.first)
      .where('a.ip_int', '<', pool.last)
      .whereNotExists((q) =>
        q
          .select(trx.raw('1'))
          .from('ip_allocations as b')
          .whereRaw('b.subnet_id = a.subnet_id')
          .whereRaw('b.ip_int = a.ip_int + 1'),
      )
      .min({ c: 'a.ip_int' })
      .first()) as { c: number | string | null } | undefined;
    if (row && row.c !== null) return Number(row.c) + 1;
  }
  return null;
}

export async function recordAllocation(
  trx: Knex,
  a: { portId: string; subnetId: string; networkId: string; ip: number },
): Promise<void> {
  await trx('ip_allocations').insert({
    port_id: a.portId,
    subnet_id: a.subnetId,
    network_id: a.networkId,
    ip_address: intToIp(a.ip),
    ip_int: a.ip,
  });
}

export const ipGenerationFailure = (networkId: string) =>
  conflict('IpAddressGenerationFailure', `No more IP addresses available on network ${networkId}.`);

export const ipAlreadyAllocated = (ip: string, subnetId: string) =>
  conflict('IpAddressAlreadyAllocated', `IP address ${ip} already allocated in subnet ${subnetId}`);
