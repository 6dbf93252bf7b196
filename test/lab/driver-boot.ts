/**
 * Defines and starts a domain through the host agent's LibvirtDriver, from inside a lab host (the lab test
 * runs it with nsenter into the host's namespaces, where the shared store is mounted, as the agent will be):
 *   node dist/test/lab/driver-boot.js --spec SPEC.json --state-dir DIR
 * Prints the domain's status as JSON. Does nothing without --spec (node --test may load this file).
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { LibvirtDriver } from '../../host-agent/driver/libvirt.js';
import type { DomainSpec } from '../../host-agent/driver/types.js';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { spec: { type: 'string' }, 'state-dir': { type: 'string' } },
    strict: false,
  });
  if (typeof values.spec !== 'string') return;
  const spec = JSON.parse(readFileSync(values.spec, 'utf8')) as DomainSpec;
  const driver = new LibvirtDriver({
    uri: 'qemu:///system',
    virtType: 'qemu', // KVM-PVM on the lab machine cannot run stock guest kernels: TCG
    stateDir: String(values['state-dir'] ?? '/tmp'),
  });
  try {
    await driver.define(spec, { generation: 1, owner: 'lab-test' });
    await driver.start(spec.uuid);
    console.log(JSON.stringify(await driver.getDomain(spec.uuid)));
  } finally {
    await driver.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
