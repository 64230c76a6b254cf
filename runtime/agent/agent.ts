/**
 * The agent (`oci-slaac-hook agent`): a daemon in the foreground that looks after every attached
 * container on this host.
 *
 * - One RA listener per parent NIC in the host netns (listener.ts): the configured `parent` and
 *   the parent of every record. Every RA heard → refreshContainer for every container on that
 *   parent (pipeline/refresh.ts); one timer for the whole agent at the earliest `nextDeadline` of
 *   all containers → expireContainer for the due ones (systemd's ndisc_setup_expire).
 * - Work per container is serialized (one job at a time, RAs heard meanwhile coalesced per router:
 *   only the newest is applied), at most MAX_PARALLEL containers at once; a failure for one
 *   container is logged and never stops the others. An RA that only renews lifetimes logs one line
 *   for all the containers it refreshed ("refreshed N container(s) in X ms"), not one per container.
 * - Every container's netns handle stays open between refreshes (netns-cache.ts): dropped when the
 *   container is forgotten, and at each GC tick when its path no longer names it.
 * - Garbage collection every `gc_interval_ms` (gc.ts); at start, everything left from before the
 *   agent ran, and host-side objects of ours that no record owns.
 * - The control socket (server.ts, protocol.ts): `register`, `ra` (the RA cache), `complete-dad`
 *   (optimistic DAD's background part, in the agent), `ping`.
 *
 * Killed at any point (SIGKILL mid-refresh included) nothing is lost: records are written
 * atomically, the per-container lock is released by the kernel, and a restarted agent rebuilds
 * its registry from the state store and solicits every parent at once.
 */
import { Membership } from './membership';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import { TABLES, type HookConfig } from '../core/config';
import { formatIPv6 } from '../core/ipv6';
import type { HeardRa } from '../core/plan';
import type { ContainerRecord } from '../core/record';
import { systemClock, type Clock, type Timer } from '../system/clock';
import { loadConfigFile } from '../system/config-file';
import { loadSecret } from '../system/host-secret';
import { Logger, type Level } from '../system/log';
import { NdSocket } from '../system/nd/socket';
import { stateFileName } from '../system/state-store';
import { systemDeps, type PipelineDeps } from '../pipeline/deps';
import { completeOptimisticDad } from '../pipeline/optimistic';
import * as refresh from '../pipeline/refresh';
import { collectGarbage, eachRecord, removeOrphans } from './gc';
import { ParentListener } from './listener';
import { NetnsCache } from './netns-cache';
import { agentSocketPath, type AgentAnswer, type AgentRequest } from '../wire/agent-protocol';
import { Broker } from './broker';
import { DelegateServer } from './delegate';
import { absoluteConfigPath } from '../core/config-path';
import { decodeCachedRa } from '../system/agent-client';
import { ControlServer } from './server';

const ICMPV6_ROUTER_ADVERTISEMENT = 134;
/** At most this many containers are worked on at once (each job is mostly waiting on locks and netlink). */
const MAX_PARALLEL = 8;
/** Timers are re-armed at least this often (Node's take at most 2^31-1 ms; a suspend stops them). */
const MAX_TIMER_MS = 60_000;
/** SIGTERM: running jobs get this long to finish before the agent exits anyway (a killed job is safe). */
const STOP_GRACE_MS = 800;

/** A logger whose lines carry a container id, writing through the agent's own (one syslog socket). */
class ContainerLog extends Logger {
  constructor(
    private readonly base: Logger,
    private prefix: string,
  ) {
    super('');
  }
  override forContainer(id: string): void {
    this.prefix = id.slice(0, 12);
  }
  override log(level: Level, message: string): void {
    this.base.log(level, `${this.prefix}: ${message}`);
  }
  override close(): void {
    // the base logger's to close
  }
}

export interface RefreshEngine {
  refreshContainer: typeof refresh.refreshContainer;
  expireContainer: typeof refresh.expireContainer;
  nextDeadline: typeof refresh.nextDeadline;
}

export interface AgentOptions {
  configPath?: string;
  log: Logger;
  clock?: Clock;
  /** The pipeline's dependencies for a state dir (default: the system's). */
  makeDeps?: (stateDir: string, log: Logger) => PipelineDeps;
  /** A listener for a parent NIC (default: an NdSocket on it in this netns); undefined when the NIC is missing. */
  openListener?: (parent: string, deps: PipelineDeps, clock: Clock) => ParentListener | undefined;
  refresh?: RefreshEngine;
  secret?: () => Buffer;
  /** Read config.toml (default: loadConfigFile). */
  loadConfig?: (path?: string) => HookConfig;
  /** Keep each container's netns handle open between refreshes (default: with the system's deps, not with makeDeps). */
  holdNetns?: boolean;
  /** Run root hooks' whole stages (agent/delegate.ts): the agent process does (runAgent), tests that make an Agent need not. */
  delegate?: boolean;
}

/** A file as stat sees it, to notice that it changed ("none": not there). */
function fileSignature(file: string): string {
  try {
    const st = fs.statSync(file);
    return `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}:${st.ctimeMs}`;
  } catch {
    return 'none';
  }
}

interface Watched {
  parent: string;
  /** The record's netns path (the held handle's key). */
  netns: string;
  deadline: number | null;
  /** Its addresses as registered (a change moves it in its networks' member sets). */
  addresses: string;
  /** In a logical network (policy networks): its coming, going and renumbering concern the member sets. */
  member: boolean;
}

const addressesOf = (r: ContainerRecord): string => r.addresses.map((a) => a.address).join(' ');

/** The containers one RA on a parent set to work, until the last is done: one log line for all. */
interface Wave {
  parent: string;
  router: string;
  /** performance.now() at the RA's arrival here. */
  started: number;
  left: Set<string>;
  /** Containers refreshed, and those whose refresh failed. */
  done: number;
  failed: number;
  renewed: number;
  changed: number;
}

interface Pending {
  /** Newest RA per router heard since the last job. */
  heard: Map<string, HeardRa>;
  expire: boolean;
  dad: boolean;
}

function defaultListener(parent: string, deps: PipelineDeps, clock: Clock): ParentListener | undefined {
  const link = deps.host.findLink(parent);
  if (!link) return undefined;
  const socket = NdSocket.open({ ifname: link.name, ifindex: link.index, types: [ICMPV6_ROUTER_ADVERTISEMENT] });
  return new ParentListener(parent, socket, clock, link.index);
}

export class Agent {
  cfg!: HookConfig;
  deps!: PipelineDeps;
  readonly listeners = new Map<string, ParentListener>();
  readonly containers = new Map<string, Watched>();
  readonly counters = { refreshes: 0, expiries: 0, changes: 0, failures: 0, gcCollected: 0, orphans: 0, dad: 0, registered: 0 };
  private server: ControlServer | undefined;
  /** The rootless broker ([rootless] enable): rootless.sock. */
  broker: Broker | undefined;
  /** Root hooks' stages, run here (opts.delegate). */
  delegate: DelegateServer | undefined;
  /** config.toml as it was when read (fileSignature): a delegated stage needs the file unchanged. */
  private configSignature = 'none';
  private brokerDeps!: PipelineDeps;
  private readonly clock: Clock;
  private readonly engine: RefreshEngine;
  private readonly pending = new Map<string, Pending>();
  private readonly running = new Set<string>();
  /** Containers waiting for a job slot, in order (readySet: the same ids, for a quick membership test). */
  private ready: string[] = [];
  private readySet = new Set<string>();
  /** The RA being applied on each parent (one line when every container of it is done). */
  private readonly waves = new Map<string, Wave>();
  private netnsCache: NetnsCache | undefined;
  /** The state dir watched (inotify) while netns handles are held: a record removed lets its handle go at once. */
  private stateWatch: fs.FSWatcher | undefined;
  /** State file name → container id, for the watch. */
  private readonly fileIds = new Map<string, string>();
  private idleWaiters: (() => void)[] = [];
  private expiryTimer: Timer | undefined;
  private expiryAt: number | undefined;
  private gcTimer: NodeJS.Timeout | undefined;
  private gcRunning: Promise<void> | undefined;
  private stopping = false;
  /** The secret of config.toml's secret_file ("": the host's own) as last read: a reload naming another file reads that one. */
  private secretCache: { file: string; secret: Buffer } | undefined;
  /** Logical networks' members in the restricted containers' firewalls (membership.ts). */
  membership!: Membership;
  /** Parents whose NIC was missing: retried at every GC tick, logged once. */
  private readonly missingParents = new Set<string>();

  constructor(private readonly opts: AgentOptions) {
    this.clock = opts.clock ?? systemClock;
    this.engine = opts.refresh ?? refresh;
  }

  get log(): Logger {
    return this.opts.log;
  }

  get socketPath(): string {
    return agentSocketPath(this.cfg.state_dir);
  }

  /** Load the config, take the socket (refusing if another agent answers), collect leftovers, watch. */
  async start(): Promise<void> {
    this.configSignature = fileSignature(this.configFile);
    this.cfg = (this.opts.loadConfig ?? loadConfigFile)(this.opts.configPath);
    fs.mkdirSync(this.cfg.state_dir, { recursive: true, mode: 0o755 });
    this.deps = (this.opts.makeDeps ?? systemDeps)(this.cfg.state_dir, this.log);
    // The broker's attaches open their netns afresh: a held handle is the registry's, and a GC
    // tick lets go of any whose container is not registered yet.
    this.brokerDeps = this.deps;
    if (this.opts.holdNetns ?? !this.opts.makeDeps) {
      const cache = new NetnsCache(this.deps.openNetns);
      this.netnsCache = cache;
      this.deps = { ...this.deps, openNetns: (p) => cache.openNetns(p) };
    }
    this.server = new ControlServer({ path: this.socketPath, handle: (r) => this.handle(r), note: (l) => this.log.warn(l) });
    try {
      await this.server.listen();
    } catch (err) {
      this.server = undefined;
      this.deps.host.close();
      throw err;
    }
    this.log.info(`agent: listening on ${this.socketPath} (pid ${process.pid})`);
    // Everything left from before we ran: records of containers gone, then objects nobody owns.
    await this.gcPass();
    try {
      const parents = [this.cfg.parent];
      eachRecord(this.deps.store, (r) => parents.push(r.parent));
      const lines = removeOrphans(this.deps, parents);
      this.counters.orphans += lines.length;
      for (const l of lines) this.log.info(`agent: ${l}`);
    } catch (err) {
      this.log.error(`agent: orphan sweep failed: ${(err as Error).message}`);
    }
    this.membership = new Membership({ deps: () => this.deps, dns: () => this.cfg.dns, log: this.log });
    this.syncRegistry();
    this.reconcileListeners();
    this.armGc();
    this.membership.arm();
    this.membership.nudge();
    if (this.netnsCache) this.watchStateDir();
    this.reconcileBroker();
    if (this.opts.delegate) this.startDelegate();
    this.log.info(`agent: started: ${this.containers.size} container(s); watching ${[...this.listeners.keys()].join(', ') || 'no parent'}`);
  }

  /** The config file's absolute path (as a hook names it: core/config-path.ts). */
  get configFile(): string {
    return absoluteConfigPath(this.opts.configPath);
  }

  /**
   * Root hooks hand their stages over (agent/delegate.ts) on a socket named by the config file. One
   * that cannot be taken (another agent with the same config serves it) leaves hooks doing their
   * own stages: a line in the log, not a refusal to start.
   */
  private startDelegate(): void {
    const delegate = new DelegateServer({
      configPath: this.configFile,
      config: () => this.cfg,
      configCurrent: () => fileSignature(this.configFile) === this.configSignature,
      // Fresh netns handles, as the broker's; the RA cache straight from the listeners.
      deps: (log) => ({ ...this.brokerDeps, log, cachedRas: (parent) => Promise.resolve(this.cachedRas(parent)) }),
      adopt: (record) => this.adopt(record),
      detached: (id) => this.forget(id, 'poststop'),
      log: this.log,
    });
    try {
      delegate.start();
      this.delegate = delegate;
      this.log.info(`agent: running root hooks' stages on ${delegate.socketPath}`);
    } catch (err) {
      this.log.warn(`agent: hooks run their own stages: ${(err as Error).message}`);
    }
  }

  /** `parent`'s fresh cached RAs, decoded (what the control socket's "ra" answers). */
  private cachedRas(parent: string): HeardRa[] {
    const l = this.listeners.get(parent);
    return l ? l.fresh(this.clock.now(), this.cfg.ra_cache_max_age_ms).flatMap((c) => decodeCachedRa(c) ?? []) : [];
  }

  /** SIGHUP: config.toml read again; what changed is logged; parents added/removed. */
  reload(): void {
    let next: HookConfig;
    const signature = fileSignature(this.configFile);
    try {
      next = (this.opts.loadConfig ?? loadConfigFile)(this.opts.configPath);
    } catch (err) {
      this.log.error(`agent: reload failed, keeping the running config: ${(err as Error).message}`);
      return;
    }
    const changed = (Object.keys({ ...this.cfg, ...next }) as (keyof HookConfig)[]).filter((k) => JSON.stringify(this.cfg[k]) !== JSON.stringify(next[k]));
    if (next.state_dir !== this.cfg.state_dir) {
      this.log.warn(`agent: reload: state_dir changed (${this.cfg.state_dir} -> ${next.state_dir}): restart the agent to move; keeping ${this.cfg.state_dir}`);
      next = { ...next, state_dir: this.cfg.state_dir };
    }
    this.cfg = next;
    this.configSignature = signature;
    this.log.info(`agent: config reloaded: ${changed.length ? `changed ${changed.map((k) => (TABLES.includes(k) ? k : `${k}=${JSON.stringify(next[k])}`)).join(', ')}` : 'no change'}`);
    this.reconcileListeners();
    this.armGc();
    this.membership.arm();
    this.reconcileBroker();
  }

  /** The broker runs while [rootless] enable says so (a reload turns it on or off). */
  private reconcileBroker(): void {
    const want = this.cfg.rootless.enable && !this.stopping;
    if (want === (this.broker !== undefined)) return;
    if (!want) {
      this.broker?.stop();
      this.broker = undefined;
      this.log.info('broker: stopped ([rootless] enable = false)');
      return;
    }
    const broker = new Broker({ config: () => this.cfg, deps: this.brokerDeps, secret: () => this.secret(), adopt: (r) => this.adopt(r), log: this.log });
    try {
      broker.start();
      this.broker = broker;
    } catch (err) {
      this.log.error(`broker: cannot start: ${(err as Error).message}`);
    }
  }

  /** A container attached in this process (the broker's): looked after from now on, its optimistic DAD finished here. */
  adopt(record: ContainerRecord): void {
    this.register(record, 'registered');
    this.reconcileListeners();
    if (record.addresses.some((a) => a.dad === 'optimistic')) {
      this.work(record.id).dad = true;
      this.enqueue(record.id);
    }
  }

  /** SIGTERM/SIGINT: stop listening and accepting, give running jobs a moment, remove the socket. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.gcTimer) clearInterval(this.gcTimer);
    this.expiryTimer?.cancel();
    for (const [parent, l] of this.listeners) {
      l.stop();
      this.log.info(`agent: stopped watching ${parent}`);
    }
    this.listeners.clear();
    this.pending.clear();
    this.ready = [];
    this.readySet.clear();
    this.waves.clear();
    this.membership?.stop();
    await this.membership?.idle();
    this.broker?.stop();
    this.broker = undefined;
    this.delegate?.stop();
    this.delegate = undefined;
    await this.server?.close();
    await Promise.race([this.idle(), new Promise((r) => setTimeout(r, STOP_GRACE_MS))]);
    this.stateWatch?.close();
    this.stateWatch = undefined;
    this.netnsCache?.closeAll();
    this.deps?.host.close();
    this.log.info('agent: stopped');
  }

  /** Resolves when no job runs (tests). */
  idle(): Promise<void> {
    if (this.running.size === 0 && this.ready.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  // ---- the control protocol ------------------------------------------------------------------

  async handle(req: AgentRequest): Promise<AgentAnswer> {
    switch (req.op) {
      case 'ping': {
        const broker = this.broker ? { ...this.broker.counters, ...this.broker.serverCounters, connections: this.broker.connections } : undefined;
        const counters = { ...this.counters, listeners: Object.fromEntries([...this.listeners].map(([p, l]) => [p, { ...l.counters, routers: l.routers.size }])), ...(broker ? { broker } : {}), ...(this.delegate ? { delegate: { ...this.delegate.counters } } : {}) };
        const answer = { ok: true as const, containers: this.containers.size, parents: [...this.listeners.keys()], counters };
        return answer;
      }
      case 'ra': {
        const l = this.listeners.get(req.parent);
        return { ok: true, heard: l ? l.fresh(this.clock.now(), this.cfg.ra_cache_max_age_ms) : [] };
      }
      case 'register': {
        const record = this.deps.store.read(req.id);
        if (!record) return { ok: false, error: `no record of container ${req.id}` };
        this.register(record, 'registered');
        this.reconcileListeners();
        return { ok: true, containers: this.containers.size, parents: [...this.listeners.keys()] };
      }
      case 'complete-dad': {
        const record = this.deps.store.read(req.id);
        if (!record) return { ok: false, error: `no record of container ${req.id}` };
        if (!record.member) this.register(record, 'registered');
        this.reconcileListeners();
        this.work(req.id).dad = true;
        this.enqueue(req.id);
        return { ok: true };
      }
    }
  }

  // ---- registry ------------------------------------------------------------------------------

  private register(record: ContainerRecord, how: string): void {
    if (record.member || record.phase !== 'attached') return; // a pod member has nothing of its own
    const known = this.containers.get(record.id);
    let deadline: number | null = null;
    try {
      deadline = this.engine.nextDeadline(record);
    } catch (err) {
      this.log.warn(`${record.id.slice(0, 12)}: next deadline: ${(err as Error).message}`);
    }
    try {
      this.fileIds.set(stateFileName(record.id), record.id);
    } catch {
      // an id with no state file name has no record to watch
    }
    const was = known?.netns;
    if (was !== undefined && was !== record.netns.path && ![...this.containers].some(([id, c]) => id !== record.id && c.netns === was)) this.netnsCache?.drop(was);
    // Only a network member's coming or renumbering changes anyone's member sets.
    const member = (record.policy?.networks.length ?? 0) > 0;
    this.containers.set(record.id, { parent: record.parent, netns: record.netns.path, deadline, addresses: addressesOf(record), member });
    if (member && (!known || known.addresses !== addressesOf(record))) this.membership?.nudge();
    if (!known) {
      this.counters.registered++;
      this.log.info(`${record.id.slice(0, 12)}: ${how}: on ${record.parent}${record.addresses.length ? ` with ${record.addresses.map((a) => a.address).join(' ')}` : ''}`);
    }
    this.armExpiry();
  }

  private forget(id: string, why: string): void {
    const c = this.containers.get(id);
    if (!c || !this.containers.delete(id)) return;
    this.pending.delete(id);
    for (const [file, i] of this.fileIds) if (i === id) this.fileIds.delete(file);
    if (![...this.containers.values()].some((o) => o.netns === c.netns)) this.netnsCache?.drop(c.netns);
    for (const w of this.waves.values()) if (w.left.delete(id)) this.waveStep(w);
    this.log.info(`${id.slice(0, 12)}: no longer looked after (${why})`);
    if (c.member) this.membership?.nudge();
    this.armExpiry();
  }

  /**
   * A held netns handle keeps a dead container's namespace, and its interface (its MAC on the
   * parent), alive: poststop's detach removes the record, and the handle goes the moment the
   * record's file does (inotify), not at the next GC tick — a container restarted at once gets its
   * stable MAC again. A watch that fails leaves it to the GC tick.
   */
  private watchStateDir(): void {
    try {
      this.stateWatch = fs.watch(this.cfg.state_dir, (event, name) => {
        if (event !== 'rename' || typeof name !== 'string') return;
        const id = this.fileIds.get(name);
        if (id === undefined || this.running.has(id) || fs.existsSync(path.join(this.cfg.state_dir, name))) return;
        this.forget(id, 'record removed');
      });
      this.stateWatch.on('error', (err) => {
        this.log.warn(`agent: watching ${this.cfg.state_dir}: ${err.message} (records removed are noticed at the GC tick)`);
        this.stateWatch?.close();
        this.stateWatch = undefined;
      });
    } catch (err) {
      this.log.warn(`agent: watching ${this.cfg.state_dir}: ${(err as Error).message} (records removed are noticed at the GC tick)`);
    }
  }

  /** The store is the truth: records added by hooks that did not register, and records gone. */
  private syncRegistry(): void {
    const ids = new Set<string>();
    const problems = eachRecord(this.deps.store, (r) => {
      ids.add(r.id);
      if (!this.containers.has(r.id)) this.register(r, 'found');
    });
    this.noteProblems(problems);
    if (problems.length && ids.size === 0 && this.containers.size > 0) return; // the store unreadable: forget nothing
    for (const id of [...this.containers.keys()]) if (!ids.has(id) && !this.running.has(id)) this.forget(id, 'record removed');
  }

  /** Watch the configured parent and every container's; stop watching the rest. */
  private reconcileListeners(): void {
    if (this.stopping) return;
    const want = new Set([this.cfg.parent, ...[...this.containers.values()].map((c) => c.parent)].filter((p) => p !== ''));
    for (const [parent, l] of this.listeners) {
      if (want.has(parent)) {
        if (l.ifindex === undefined) continue;
        let index: number | undefined;
        try {
          index = this.deps.host.findLink(parent)?.index;
        } catch {
          continue; // netlink trouble: keep listening, look again at the next tick
        }
        if (index === l.ifindex) continue;
        l.stop();
        this.listeners.delete(parent);
        this.log.warn(`agent: parent ${parent} ${index === undefined ? 'is gone' : `was re-created (index ${l.ifindex} -> ${index})`}: listener stopped`);
        continue;
      }
      l.stop();
      this.listeners.delete(parent);
      this.log.info(`agent: parent removed: ${parent} (no longer watched)`);
    }
    for (const parent of want) {
      if (this.listeners.has(parent)) continue;
      let l: ParentListener | undefined;
      try {
        l = (this.opts.openListener ?? defaultListener)(parent, this.deps, this.clock);
      } catch (err) {
        if (!this.missingParents.has(parent)) this.log.error(`agent: cannot watch ${parent}: ${(err as Error).message}`);
        this.missingParents.add(parent);
        continue;
      }
      if (!l) {
        if (!this.missingParents.has(parent)) this.log.warn(`agent: parent ${parent} does not exist: not watched (retried every ${this.cfg.gc_interval_ms} ms)`);
        this.missingParents.add(parent);
        continue;
      }
      this.missingParents.delete(parent);
      l.on('ra', (heard, changed) => this.onRa(parent, heard, changed));
      l.on('note', (line) => this.log.info(`agent: ${line}`));
      try {
        l.start();
      } catch (err) {
        l.stop();
        this.log.error(`agent: cannot watch ${parent}: ${(err as Error).message}`);
        continue;
      }
      this.listeners.set(parent, l);
      this.log.info(`agent: parent added: watching ${parent} for router advertisements`);
    }
  }

  private onRa(parent: string, heard: HeardRa, changed: boolean): void {
    const router = formatIPv6(heard.router);
    if (changed) this.log.info(`agent: ${parent}: RA from ${router} (router lifetime ${heard.advertisement.routerLifetime} s, ${heard.advertisement.options.length} options)`);
    let wave = this.waves.get(parent);
    if (!wave) {
      wave = { parent, router, started: performance.now(), left: new Set(), done: 0, renewed: 0, changed: 0, failed: 0 };
      this.waves.set(parent, wave);
    }
    for (const [id, c] of this.containers) {
      if (c.parent !== parent) continue;
      wave.left.add(id);
      this.work(id).heard.set(router, heard);
      this.enqueue(id);
    }
    this.waveStep(wave);
  }

  /** A container of the wave is done (or forgotten): the wave's line once none is left. */
  private waveStep(w: Wave): void {
    if (w.left.size > 0 || this.waves.get(w.parent) !== w) return;
    this.waves.delete(w.parent);
    if (w.done + w.failed === 0) return;
    const ms = Math.round((performance.now() - w.started) * 10) / 10;
    const m = process.memoryUsage();
    const mib = (b: number): string => (b / 1048576).toFixed(1);
    this.log.info(`agent: ${w.parent}: RA from ${w.router}: refreshed ${w.done} container(s) in ${ms} ms (${w.renewed} lifetime(s) renewed, ${w.changed} change(s)${w.failed ? `, ${w.failed} failed` : ''}; rss ${mib(m.rss)} MiB, heap ${mib(m.heapUsed)}/${mib(m.heapTotal)} MiB, external ${mib(m.external)} MiB)`);
  }

  // ---- jobs ----------------------------------------------------------------------------------

  private work(id: string): Pending {
    let p = this.pending.get(id);
    if (!p) this.pending.set(id, (p = { heard: new Map(), expire: false, dad: false }));
    return p;
  }

  private enqueue(id: string): void {
    if (this.stopping || this.running.has(id) || this.readySet.has(id)) return;
    this.ready.push(id);
    this.readySet.add(id);
    this.pump();
  }

  private pump(): void {
    while (!this.stopping && this.running.size < MAX_PARALLEL && this.ready.length > 0) {
      const id = this.ready.shift() as string;
      this.readySet.delete(id);
      this.running.add(id);
      void this.runJobs(id).finally(() => {
        this.running.delete(id);
        if (this.pending.has(id)) this.enqueue(id);
        this.pump();
        if (this.running.size === 0 && this.ready.length === 0) for (const w of this.idleWaiters.splice(0)) w();
      });
    }
  }

  private depsFor(id: string, job?: 'refresh'): PipelineDeps {
    const deps = { ...this.deps, log: new ContainerLog(this.log, id.slice(0, 12)) };
    // Fault injection for the kill tests: OCI_SLAAC_HOOK_FAILPOINT=agent-refresh SIGKILLs the agent
    // right after a refresh's first save of the record (its intent recorded, the change not yet made).
    if (job === 'refresh' && process.env.OCI_SLAAC_HOOK_FAILPOINT === 'agent-refresh') {
      const store = this.deps.store;
      deps.store = {
        read: (i) => store.read(i),
        remove: (i) => store.remove(i),
        list: () => store.list(),
        related: (q) => store.related(q),
        write: (record, o) => {
          store.write(record, o);
          process.kill(process.pid, 'SIGKILL');
        },
      };
    }
    return deps;
  }

  private async runJobs(id: string): Promise<void> {
    const p = this.pending.get(id);
    this.pending.delete(id);
    if (!p) return;
    const deps = this.depsFor(id);
    const refreshDeps = this.depsFor(id, 'refresh');
    const tag = id.slice(0, 12);
    if (p.dad) {
      try {
        this.counters.dad++;
        const updated = await completeOptimisticDad({ id, config: this.cfg, secret: this.secret(), deps });
        if (updated) this.register(updated, 'registered');
      } catch (err) {
        this.counters.failures++;
        this.log.error(`${tag}: optimistic DAD: ${(err as Error).message}`);
      }
    }
    const wave = p.heard.size > 0 ? this.waves.get(this.containers.get(id)?.parent ?? '') : undefined;
    let failed = false;
    for (const heard of p.heard.values()) {
      if (!this.containers.has(id)) break;
      try {
        this.counters.refreshes++;
        const r = await this.engine.refreshContainer(id, heard, refreshDeps, { secret: this.secret() });
        if (wave) {
          wave.renewed += r.renewed?.length ?? 0;
          wave.changed += r.changes.length;
        }
        this.apply(id, r);
      } catch (err) {
        this.counters.failures++;
        failed = true;
        this.log.error(`${tag}: refresh from ${formatIPv6(heard.router)}: ${(err as Error).message}`);
      }
    }
    if (wave?.left.delete(id)) {
      if (failed) wave.failed++;
      else wave.done++;
      this.waveStep(wave);
    }
    if (p.expire && this.containers.has(id)) {
      try {
        this.counters.expiries++;
        this.apply(id, await this.engine.expireContainer(id, this.clock.now(), deps));
      } catch (err) {
        this.counters.failures++;
        this.log.error(`${tag}: expire: ${(err as Error).message}`);
      }
    }
  }

  private apply(id: string, r: refresh.RefreshResult): void {
    for (const c of r.changes) this.log.info(`${id.slice(0, 12)}: ${c}`);
    this.counters.changes += r.changes.length;
    if (r.gone) return this.forget(id, 'detached or its netns is gone');
    const c = this.containers.get(id);
    if (!c) return;
    const was = c.deadline;
    c.deadline = r.nextDeadline;
    // The timer moves only when this container's deadline was the earliest or is now earlier (a full
    // scan per container would make an RA for N containers cost N²).
    if (c.deadline === was && this.expiryTimer) return;
    if (this.expiryTimer && was !== this.expiryAt && (c.deadline === null || (this.expiryAt !== undefined && c.deadline >= this.expiryAt))) return;
    this.armExpiry();
  }

  private secret(): Buffer {
    const file = this.cfg.secret_file;
    if (this.secretCache?.file !== file) this.secretCache = { file, secret: this.opts.secret ? this.opts.secret() : loadSecret(this.cfg) };
    return this.secretCache.secret;
  }

  // ---- the one expiry timer ------------------------------------------------------------------

  private armExpiry(): void {
    if (this.stopping) return;
    let earliest = Infinity;
    for (const c of this.containers.values()) if (c.deadline !== null && c.deadline < earliest) earliest = c.deadline;
    if (earliest === this.expiryAt && this.expiryTimer) return;
    this.expiryTimer?.cancel();
    this.expiryTimer = undefined;
    this.expiryAt = undefined;
    if (earliest === Infinity) return;
    this.expiryAt = earliest;
    this.expiryTimer = this.clock.setTimer(Math.max(0, Math.min(earliest - this.clock.now(), MAX_TIMER_MS)), () => {
      this.expiryTimer = undefined;
      this.expiryAt = undefined;
      const now = this.clock.now();
      for (const [id, c] of this.containers) {
        if (c.deadline === null || c.deadline > now) continue;
        c.deadline = null; // the job's result sets the next one
        this.work(id).expire = true;
        this.enqueue(id);
      }
      this.armExpiry();
    });
  }

  // ---- garbage collection --------------------------------------------------------------------

  /** Unreadable state files: each logged once (not at every tick). */
  private readonly problemsSeen = new Set<string>();
  private noteProblems(problems: string[]): void {
    for (const p of problems) {
      if (this.problemsSeen.has(p)) continue;
      this.problemsSeen.add(p);
      this.log.error(`agent: ${p} (skipped)`);
    }
  }

  private armGc(): void {
    if (this.stopping) return;
    if (this.gcTimer) clearInterval(this.gcTimer);
    this.gcTimer = setInterval(() => void this.gcTick(), this.cfg.gc_interval_ms);
  }

  private async gcTick(): Promise<void> {
    if (this.gcRunning || this.stopping) return;
    await this.gcPass();
    this.syncRegistry();
    this.reconcileListeners();
    // Handles whose container is forgotten, or whose path names no namespace (or another) now.
    this.netnsCache?.sweep(new Set([...this.containers.values()].map((c) => c.netns)));
  }

  /** One GC pass (never two at once); containers with a job running are left for the next. */
  gcPass(): Promise<void> {
    this.gcRunning ??= (async () => {
      try {
        const outcomes = await collectGarbage(this.deps, { skip: (id) => this.running.has(id), problems: (p) => this.noteProblems(p) });
        for (const o of outcomes) {
          this.log.info(`agent: ${o.line}`);
          if (o.removed) {
            this.counters.gcCollected++;
            this.forget(o.id, 'collected');
          }
        }
      } catch (err) {
        this.log.error(`agent: gc: ${(err as Error).message}`);
      } finally {
        this.gcRunning = undefined;
      }
    })();
    return this.gcRunning;
  }
}

/** `oci-slaac-hook agent`: run until SIGTERM/SIGINT; SIGHUP reloads. Resolves with the exit code. */
/**
 * V8's young generation stays at its first size (1 MiB semi-spaces) instead of growing to 16 MiB
 * each under the allocation rate of an RA refreshing a thousand containers: measured, the agent's
 * peak RSS for 1000 containers drops from ~134 to ~88 MiB for no measurable time (README,
 * Benchmarks). Read by V8 at each new-space growth, so it takes effect when set at run time (Node
 * 20); a semi-space option given to node (NODE_OPTIONS, the command line) wins.
 */
export function keepYoungGenerationSmall(): void {
  const given = [...process.execArgv, process.env.NODE_OPTIONS ?? ''].some((a) => a.includes('semi-space'));
  if (!given) v8.setFlagsFromString('--semi-space-growth-factor=1');
}

export async function runAgent(configPath: string | undefined, log: Logger): Promise<number> {
  keepYoungGenerationSmall();
  // A bug must not die as a multi-line stack trace: one line, exit 1 (systemd restarts us; the
  // socket left behind is replaced at the next start).
  const fatal = (err: unknown): void => {
    log.error(`agent: internal error: ${err instanceof Error ? `${err.message} (${(err.stack ?? '').split('\n')[1]?.trim() ?? ''})` : String(err)}`);
    process.exit(1);
  };
  process.on('uncaughtException', fatal).on('unhandledRejection', fatal);
  const agent = new Agent({ configPath, log, delegate: true });
  await agent.start();
  return new Promise<number>((resolve) => {
    const onStop = (sig: NodeJS.Signals): void => {
      process.off('SIGTERM', onStop).off('SIGINT', onStop).off('SIGHUP', onHup);
      log.info(`agent: ${sig}: stopping`);
      agent.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error(`agent: stop: ${(err as Error).message}`);
          resolve(1);
        },
      );
    };
    const onHup = (): void => {
      log.info('agent: SIGHUP: reloading config');
      agent.reload();
    };
    process.on('SIGTERM', onStop).on('SIGINT', onStop).on('SIGHUP', onHup);
  });
}
