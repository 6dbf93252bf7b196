/**
 * The agent's server-action commands on the fake driver: pause/unpause, suspend/resume with their state
 * checks and generation checks, snapshot into a store's snapshots/ directory, rebuild's root-disk reset,
 * and purge, which removes only files under a store's instances/ directory and never a defined domain's.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import pino from 'pino';
import { Commands } from '../../../host-agent/commands.js';
import { FakeDriver } from '../../../host-agent/driver/fake.js';
import type { DomainSpec } from '../../../host-agent/driver/types.js';
import { GenerationBook } from '../../../host-agent/generation.js';
import { BadRequest, Conflict } from '../../../src/common/errors.js';

const UUID = '44444444-4444-4444-8444-444444444444';

function setup() {
  const store = mkdtempSync(join(tmpdir(), 'kvmstack-cmd-store-'));
  const driver = new FakeDriver('h1');
  const commands = new Commands({
    hostId: () => 'host-1',
    driver,
    generations: new GenerationBook(),
    consoleLogs: new Map(),
    save: () => undefined,
    backup: async () => undefined,
    storeMounts: () => [store],
    log: pino({ level: 'silent' }),
  });
  const dir = join(store, 'instances', UUID);
  const spec: DomainSpec = {
    uuid: UUID,
    name: `instance-${UUID}`,
    vcpus: 1,
    memoryMb: 128,
    disks: [
      {
        target: 'vda',
        path: join(dir, 'disk'),
        format: 'qcow2',
        backingPath: join(store, 'images/x'),
        sizeGb: 1,
      },
    ],
    nics: [],
    consoleLog: join(dir, 'console.log'),
  };
  return { store, dir, driver, commands, spec };
}

describe('agent commands for server actions', () => {
  it('pause/unpause and suspend/resume move the domain; wrong states are 409; stale generations are 409', async () => {
    const { commands, spec } = setup();
    await commands.define(UUID, 2, 'host-1', spec);
    await assert.rejects(commands.pause(UUID, 2), Conflict, 'a shut-off domain cannot pause');
    await commands.start(UUID, 2);
    assert.equal((await commands.pause(UUID, 2)).state, 'paused');
    assert.equal((await commands.unpause(UUID, 2)).state, 'running');
    assert.equal((await commands.suspend(UUID, 2)).state, 'suspended');
    await assert.rejects(commands.unpause(UUID, 2), Conflict);
    assert.equal((await commands.resume(UUID, 2)).state, 'running');
    await assert.rejects(commands.pause(UUID, 1), Conflict, 'generation 1 is stale');
    assert.equal((await commands.status(UUID)).state, 'running', 'nothing changed');
  });

  it('snapshot writes a standalone qcow2 under <store>/snapshots only', async () => {
    const { store, commands, spec } = setup();
    await commands.define(UUID, 1, 'host-1', spec);
    const target = join(store, 'snapshots', 'img-1.qcow2');
    const out = await commands.snapshot(UUID, 1, target);
    assert.ok(existsSync(target));
    assert.equal(out.virtualSize, 2 ** 30);
    await assert.rejects(commands.snapshot(UUID, 1, '/etc/passwd'), BadRequest);
    await assert.rejects(commands.snapshot(UUID, 1, join(store, 'snapshots', '..', 'x')), BadRequest);
  });

  it('resetRootDisk: only a shut-off domain, only its own vda, only under instances/', async () => {
    const { commands, spec } = setup();
    await commands.define(UUID, 1, 'host-1', spec);
    await commands.start(UUID, 1);
    await assert.rejects(commands.resetRootDisk(UUID, 1, spec.disks[0]), Conflict);
    await commands.destroy(UUID, 1);
    await commands.resetRootDisk(UUID, 1, spec.disks[0]);
    await assert.rejects(commands.resetRootDisk(UUID, 1, { ...spec.disks[0], target: 'vdb' }), BadRequest);
    await assert.rejects(
      commands.resetRootDisk(UUID, 1, { ...spec.disks[0], path: '/var/lib/x/disk' }),
      BadRequest,
    );
  });

  it('purge removes only files under <store>/instances, and never those of a defined domain', async () => {
    const { store, dir, commands, spec } = setup();
    mkdirSync(dir, { recursive: true });
    for (const f of ['disk', 'console.log']) writeFileSync(join(dir, f), 'x');
    const outside = join(store, 'images', 'keep');
    mkdirSync(join(store, 'images'), { recursive: true });
    writeFileSync(outside, 'image');
    await commands.define(UUID, 1, 'host-1', spec);
    await assert.rejects(commands.purge(UUID, [join(dir, 'disk')]), Conflict, 'defined: refused');
    assert.ok(existsSync(join(dir, 'disk')));
    await commands.undefine(UUID, 1);
    for (const bad of [outside, '/etc/hostname', `${dir}/../../images/keep`, 'relative/disk'])
      await assert.rejects(commands.purge(UUID, [bad]), BadRequest, bad);
    assert.ok(existsSync(outside), 'nothing outside instances/ was touched');
    await commands.purge(UUID, [join(dir, 'disk'), join(dir, 'console.log'), join(dir, 'config-drive.iso')]);
    assert.ok(!existsSync(dir), 'the emptied directory goes too');
    await commands.purge(UUID, [join(dir, 'disk')]); // idempotent
  });
});
