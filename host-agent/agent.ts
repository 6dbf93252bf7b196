import type { Server } from 'node:http';
import type { Logger } from 'pino';
import { ApiCallError, ApiClient, type Enrolled } from './api-client.js';
import { Commands } from './commands.js';
import type { AgentConfig } from './config.js';
import type { HypervisorDriver, HostInventory, NicSpec } from './driver/types.js';
import { hostUptime } from './driver/host-info.js';
import { GenerationBook } from './generation.js';
import { removeFirewall, syncFirewall } from './network/firewall.js';
import { NetworkRealizer } from './network/realizer.js';
import { NetworkSync } from './network/sync.js';
import { waitForBridges } from './network/bridges-ready.js';
import { readLinks } from './network/links.js';
import { LeaseKeeper, type LeaseIo } from './leases/keeper.js';
import { WorkerLeaseIo } from './leases/worker-io.js';
import { planReconcile, type ReconcileAction } from './reconcile.js';
import { createRpcServer } from './rpc.js';
import { loadState, saveState, type AgentState } from './state.js';
import { backupPath, mountStores, writeBackup, type StoreStatus } from './stores.js';
import { run } from '../src/common/exec.js';

/** How long a define waits for the network loop to make its bridges (Nova's vif_plugging_timeout is 300 s). */
const NIC_BRIDGE_WAIT_MS = 60_000;

export interface AgentDeps {
  driver: HypervisorDriver;
  log: Logger;
  now?: () => number;
  leaseIo?: LeaseIo;
  /** Mount the configured stores (false in tests that use plain directories). */
  mount?: boolean;
  /**
   * This host's networks (bridges, DHCP, filters): a realizer to use, or false for none. Default: a realizer on
   * this machine with the libvirt driver only, so agents with the fake driver never touch the machine's devices.
   */
  network?: NetworkRealizer | false;
}

/**
 * The host agent: joins the cluster, serves the API's commands, reports every heartbeat_interval, renews its
 * storage leases and watches its peers', fences itself when its storage is gone, and reconciles with the
 * database's desired state at start and every reconcile_interval.
 */
export class Agent {
  readonly api: ApiClient;
  private state: AgentState;
  private generations: GenerationBook;
  private consoleLogs: Map<string, string>;
  private commands: Commands;
  private server: Server | null = null;
  private leases: LeaseKeeper | null = null;
  private leaseIo: LeaseIo;
  private storeStatus: StoreStatus[] = [];
  private inventory: HostInventory | null = null;
  /** The generation each domain's XML backup was last written at: a domain arriving by migration gets one too. */
  private backedUp = new Map<string, number>();
  private timers = new Set<NodeJS.Timeout>();
  /** The network loop (null: this agent does not manage networks). */
  readonly network: NetworkSync | null = null;
  private stopped = false;
  private now: () => number;
  /** The port the RPC endpoint bound (useful with rpc_port 0). */
  rpcPort = 0;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly deps: AgentDeps,
  ) {
    this.now = deps.now ?? Date.now;
    this.api = new ApiClient(cfg.agent.apiUrl);
    this.state = loadState(cfg.agent.stateDir);
    this.generations = new GenerationBook(this.state.generations);
    this.consoleLogs = new Map(Object.entries(this.state.consoleLogs));
    this.leaseIo = deps.leaseIo ?? new WorkerLeaseIo(cfg.agent.leaseIoTimeoutMs);
    this.commands = new Commands({
      hostId: () => this.state.hostId ?? '',
      driver: deps.driver,
      generations: this.generations,
      consoleLogs: this.consoleLogs,
      save: () => this.persist(),
      backup: (uuid, root) => this.backup(uuid, root),
      storeMounts: () => this.cfg.stores.map((st) => st.mount),
      nicsReady: (nics) => this.nicsReady(nics),
      log: deps.log,
    });
    this.network = this.networkSync();
  }

  private networkSync(): NetworkSync | null {
    const { network } = this.cfg;
    const wanted = this.deps.network ?? (this.deps.driver.kind === 'libvirt' ? undefined : false);
    if (wanted === false || network.syncIntervalMs <= 0) return null;
    const nft = (args: string[], input?: string) => run('nft', args, { input });
    const realizer =
      wanted ??
      new NetworkRealizer({
        mappings: network,
        stateDir: this.cfg.agent.stateDir,
        dnsmasqPath: network.dnsmasqPath,
        owner: this.state.hostUuid,
        cmd: (file, args, o) => run(file, args, { input: o?.input }),
        log: this.deps.log,
        firewall: (ports) => (ports.length ? syncFirewall(ports, { nft }) : removeFirewall({ nft })),
      });
    return new NetworkSync({
      realizer,
      exchange: async (report) => this.api.networkSync(await this.enrolled(), report),
      log: this.deps.log,
    });
  }

  /**
   * A domain whose server is gone: stopped, undefined, and its files under a store's instances/ removed (the
   * overlay, the config drive and the console log; the image it was based on stays).
   */
  private async removeDeleted(uuid: string): Promise<void> {
    const xml = (await this.deps.driver.domainXml(uuid)) ?? '';
    const files = [...xml.matchAll(/<source file='([^']+)'/g)].map((m) => m[1]);
    const log = this.consoleLogs.get(uuid);
    if (log) files.push(log);
    const mounts = this.cfg.stores.map((st) => `${st.mount}/instances/`);
    await this.deps.driver.destroy(uuid);
    await this.deps.driver.undefine(uuid);
    await this.commands.purge(
      uuid,
      files.filter((f) => mounts.some((m) => f.startsWith(m))),
    );
  }

  /** Before a domain is defined: its bridges exist, or the network round that makes them runs now. */
  private async nicsReady(nics: NicSpec[]): Promise<void> {
    const network = this.network;
    if (!network || this.deps.driver.kind !== 'libvirt') return;
    await waitForBridges(
      nics.map((n) => n.bridge),
      {
        missing: async (names) => {
          const links = await readLinks((file, args) => run(file, args));
          return names.filter((n) => !links.has(n));
        },
        syncNow: () => network.tick(),
        sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
        now: Date.now,
      },
      NIC_BRIDGE_WAIT_MS,
    );
  }

  get hostId(): string | null {
    return this.state.hostId;
  }

  async start(): Promise<void> {
    const { log } = this.deps;
    this.storeStatus =
      this.deps.mount === false
        ? this.cfg.stores.map((s) => ({ name: s.name, type: s.type, mount: s.mount, state: 'ok' as const }))
        : await mountStores(this.cfg.stores);
    for (const s of this.storeStatus.filter((x) => x.state !== 'ok'))
      log.error({ store: s.name, error: s.error }, 'store is not available');
    this.inventory = await this.deps.driver.inventory();
    this.server = createRpcServer(this.commands, () => this.state.rpcSecret ?? '', log);
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(this.cfg.agent.rpcPort, this.cfg.agent.rpcListen, () => resolve());
    });
    this.rpcPort = (this.server.address() as { port: number }).port;
    const enrolled = await this.enrolled();
    log.info(
      { host_id: enrolled.hostId, rpc_port: this.rpcPort, driver: this.deps.driver.kind },
      'agent joined the cluster',
    );

    const okStores = this.storeStatus.filter((s) => s.state === 'ok').map((s) => s.mount);
    this.leases = new LeaseKeeper(
      enrolled.hostId,
      okStores,
      this.leaseIo,
      this.now,
      this.cfg.agent.selfFenceAfterMs,
      (reason) => this.fence(reason),
    );
    await this.leaseTick();
    await this.heartbeat();
    await this.reconcile().catch((err) =>
      log.warn({ err: (err as Error).message }, 'first reconcile failed'),
    );
    this.every(this.cfg.agent.leaseIntervalMs, () => this.leaseTick());
    this.every(this.cfg.agent.heartbeatIntervalMs, () => this.heartbeat());
    this.every(this.cfg.agent.reconcileIntervalMs, () => this.reconcile().then(() => undefined));
    // its own timer: a slow `ip` or dnsmasq never delays a heartbeat or a lease renewal
    const network = this.network;
    if (network) {
      this.every(this.cfg.network.syncIntervalMs, () => network.tick().then(() => undefined));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    const server = this.server;
    if (server) {
      // Close keep-alive connections first: server.close() waits for every open connection to end.
      const closed = new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      await closed;
    }
    if (this.leaseIo instanceof WorkerLeaseIo) await this.leaseIo.close();
    await this.deps.driver.close();
  }

  /** One reconciliation: what the database wants here against what the hypervisor has. */
  async reconcile(): Promise<ReconcileAction[]> {
    const enrolled = await this.enrolled();
    const local = await this.deps.driver.listDomains();
    const desired = await this.api.desiredState(
      enrolled,
      local.filter((d) => d.generation !== null).map((d) => d.uuid),
    );
    const actions = planReconcile(local, desired, enrolled.hostId);
    for (const a of actions) {
      try {
        if (a.kind === 'define') {
          await this.commands.define(a.uuid, a.generation, enrolled.hostId, a.spec);
        } else if (a.kind === 'destroy-and-undefine') {
          // The database gave this VM to another host: this copy is stale. Its disks stay untouched.
          await this.deps.driver.destroy(a.uuid);
          await this.deps.driver.undefine(a.uuid);
          const newer = desired.others.find((o) => o.uuid === a.uuid)?.generation;
          if (newer) this.generations.record(a.uuid, newer);
          this.consoleLogs.delete(a.uuid);
          this.persist();
        } else if (a.kind === 'remove-deleted') {
          await this.removeDeleted(a.uuid);
        }
        this.deps.log.warn({ uuid: a.uuid, action: a.kind, why: a.why }, 'reconcile');
      } catch (err) {
        this.deps.log.error(
          { uuid: a.uuid, action: a.kind, err: (err as Error).message },
          'reconcile action failed',
        );
      }
    }
    return actions;
  }

  /** Self-fencing: the storage is gone, so the cluster will restart these VMs elsewhere. Destroy them all. */
  private async fence(reason: string): Promise<void> {
    const { log, driver } = this.deps;
    log.fatal({ reason }, 'SELF-FENCING: destroying every kvmstack domain on this host');
    for (const d of await driver.listDomains()) {
      if (d.generation === null || d.state === 'shutoff') continue;
      try {
        await driver.destroy(d.uuid);
        log.fatal({ uuid: d.uuid, name: d.name }, 'fenced: domain destroyed');
      } catch (err) {
        log.fatal({ uuid: d.uuid, err: (err as Error).message }, 'fenced: could not destroy domain');
      }
    }
  }

  private async leaseTick(): Promise<void> {
    try {
      await this.leases?.tick();
    } catch (err) {
      this.deps.log.error({ err: (err as Error).message }, 'lease round failed');
    }
  }

  private async heartbeat(): Promise<void> {
    try {
      const enrolled = await this.enrolled();
      const domains = await this.deps.driver.listDomains();
      await this.backupChanged(domains);
      const lease = this.leases?.state();
      const failing = lease?.failing ?? {};
      await this.api.report(enrolled, {
        inventory: {
          ...this.inventory,
          fenced: lease?.fenced ?? false,
          uptime: await hostUptime().catch(() => undefined),
          // The API names a VM's bridge from these: a flat network on a mapped bridge uses that bridge as is.
          bridgeMappings: Object.fromEntries(this.cfg.network.bridgeMappings),
        },
        domains: domains.map((d) => ({
          uuid: d.uuid,
          name: d.name,
          state: d.state,
          generation: d.generation,
          owner: d.owner,
        })),
        stores: this.storeStatus.map((s) => {
          const size = lease?.capacity[s.mount];
          const gb = (bytes: number) => Math.round((bytes / 2 ** 30) * 10) / 10;
          const measured = size ? { total_gb: gb(size.totalBytes), free_gb: gb(size.freeBytes) } : {};
          return failing[s.mount]
            ? { ...s, ...measured, state: 'error', error: failing[s.mount] }
            : { ...s, ...measured };
        }),
        lease_counter: lease?.counter ?? null,
        rpc_url: this.rpcUrl(),
        peers: this.leases?.peerReport() ?? [],
      });
    } catch (err) {
      if (err instanceof ApiCallError && err.status === 401) {
        // The API no longer knows this credential (database rebuilt, host deleted): join again.
        this.state.credential = null;
        this.persist();
      }
      this.deps.log.warn({ err: (err as Error).message }, 'heartbeat failed');
    }
  }

  /** This host's credentials, enrolling first if it has none (or enrolled with another API). */
  private async enrolled(): Promise<Enrolled> {
    const s = this.state;
    if (s.hostId && s.credential && s.rpcSecret && s.apiUrl === this.cfg.agent.apiUrl) {
      return { hostId: s.hostId, credential: s.credential, rpcSecret: s.rpcSecret };
    }
    const e = await this.api.enroll({
      enrollment_secret: this.cfg.agent.enrollmentSecret,
      hostname: this.cfg.agent.hostname,
      host_uuid: s.hostUuid,
      host_ip: this.cfg.agent.hostIp,
      rpc_url: this.rpcUrl(),
      inventory: this.inventory ?? {},
    });
    Object.assign(s, {
      hostId: e.hostId,
      credential: e.credential,
      rpcSecret: e.rpcSecret,
      apiUrl: this.cfg.agent.apiUrl,
    });
    this.persist();
    return e;
  }

  /** Backs up every kvmstack domain whose generation changed since its last backup (e.g. one migrated in). */
  private async backupChanged(domains: { uuid: string; generation: number | null }[]): Promise<void> {
    for (const d of domains) {
      if (d.generation === null || this.backedUp.get(d.uuid) === d.generation) continue;
      await this.backup(d.uuid);
      this.backedUp.set(d.uuid, d.generation);
    }
  }

  private rpcUrl(): string {
    return `http://${this.cfg.agent.hostIp}:${this.rpcPort}`;
  }

  private async backup(uuid: string, rootDisk?: string): Promise<void> {
    try {
      const xml = await this.deps.driver.domainXml(uuid);
      if (!xml) return;
      // The backup goes to the store of the root disk: the first disk source in the definition.
      const path = backupPath(this.cfg.stores, uuid, rootDisk ?? /<source file='([^']+)'/.exec(xml)?.[1]);
      if (path) writeBackup(path, xml);
    } catch (err) {
      this.deps.log.warn({ uuid, err: (err as Error).message }, 'domain XML backup failed');
    }
  }

  private persist(): void {
    this.state.generations = this.generations.toJSON();
    this.state.consoleLogs = Object.fromEntries(this.consoleLogs);
    saveState(this.cfg.agent.stateDir, this.state);
  }

  /** Runs `fn` every `ms` without overlapping runs: a slow round delays the next, never doubles it. */
  private every(ms: number, fn: () => Promise<void>): void {
    const schedule = () => {
      const t = setTimeout(async () => {
        this.timers.delete(t);
        if (this.stopped) return;
        await fn().catch((err) =>
          this.deps.log.error({ err: (err as Error).message }, 'periodic task failed'),
        );
        if (!this.stopped) schedule();
      }, ms);
      this.timers.add(t);
    };
    schedule();
  }
}
