#!/usr/bin/env node
/** kvmstack-agent: `node dist/host-agent/main.js --config /etc/kvmstack/agent.conf` (one per host). */
import { existsSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { Agent } from './agent.js';
import { DEFAULT_AGENT_CONFIG_FILE, loadAgentConfig, type AgentConfig } from './config.js';
import { FakeDriver } from './driver/fake.js';
import type { HypervisorDriver } from './driver/types.js';
import { probeVirtType } from './virt-type.js';

async function makeDriver(cfg: AgentConfig, log: pino.Logger): Promise<HypervisorDriver> {
  if (cfg.agent.driver === 'fake') {
    log.warn('using the FAKE hypervisor driver: no VM runs on this host');
    return new FakeDriver(cfg.agent.hostname);
  }
  const virtType = cfg.agent.virtType === 'auto' ? await autoVirtType(cfg, log) : cfg.agent.virtType;
  const { LibvirtDriver } = await import('./driver/libvirt.js');
  // libvirt cannot tell that a plain directory is shared, and refuses live migration off it without --unsafe.
  const unsafeMigration = cfg.stores.some((s) => s.type === 'dir');
  return new LibvirtDriver({
    uri: cfg.agent.libvirtUri,
    virtType,
    stateDir: cfg.agent.stateDir,
    unsafeMigration,
  });
}

/**
 * virt_type = auto, decided once per host by booting a probe guest and remembered in the state directory
 * (delete virt-type.json to probe again, e.g. after enabling nested virtualisation).
 */
async function autoVirtType(cfg: AgentConfig, log: pino.Logger): Promise<'kvm' | 'qemu'> {
  const file = join(cfg.agent.stateDir, 'virt-type.json');
  if (existsSync(file)) {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { virtType: 'kvm' | 'qemu'; why: string };
    log.info({ virt_type: saved.virtType, why: saved.why, from: file }, 'virt_type chosen earlier');
    return saved.virtType;
  }
  const probe = await probeVirtType(cfg.agent.probeImage);
  log.info({ virt_type: probe.virtType, why: probe.why }, 'virt_type chosen');
  // Without a probe image nothing was learnt: probe again next time rather than remember TCG.
  if (cfg.agent.probeImage && existsSync(cfg.agent.probeImage)) writeFileSync(file, JSON.stringify(probe));
  return probe.virtType;
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { config: { type: 'string' } } });
  const cfg = loadAgentConfig({
    file: values.config ?? process.env.KVMSTACK_AGENT_CONFIG ?? DEFAULT_AGENT_CONFIG_FILE,
  });
  mkdirSync(cfg.agent.stateDir, { recursive: true, mode: 0o700 });
  const log = pino(
    {
      level: cfg.agent.logLevel,
      base: { svc: 'kvmstack-agent', host: cfg.agent.hostname, pid: process.pid },
    },
    cfg.agent.logFile
      ? pino.destination({ dest: cfg.agent.logFile, mkdir: true, sync: false })
      : pino.destination(1),
  );
  const pidFile = join(cfg.agent.stateDir, 'agent.pid');
  const agent = new Agent(cfg, { driver: await makeDriver(cfg, log), log });
  await agent.start();
  writeFileSync(pidFile, `${process.pid}\n`);
  const stop = async (signal: string) => {
    log.info({ signal }, 'stopping');
    await agent.stop();
    try {
      unlinkSync(pidFile);
    } catch {
      /* already gone */
    }
    log.flush?.();
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
}

main().catch((err: unknown) => {
  console.error(`kvmstack-agent: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
