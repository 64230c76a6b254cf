// The agent at scale (`npm run bench -- --agent-scale N`, part of scripts/bench.ts): N containers
// on the lab's parent — each a network namespace with a macvlan of the parent, attached in this
// process by runtime/pipeline/attach (optimistic DAD, the lab's RA handed over as the agent's RA
// cache would: no RS per container), so every one has a real state record, a real link, address,
// default route and RFC 4191 route — then the real agent (`node dist/oci-slaac-hook.js agent`),
// then one RA from the lab's radvd (an RS from the parent makes it send one) and:
//  - the time from the RA's arrival on the parent to every container refreshed: the agent's own
//    count (its "refreshed N container(s) in X ms" line, else its `refreshes` counter polled over
//    agent.sock) and the kernel's (RTM_NEWADDR / RTM_NEWROUTE events in a sample of the
//    namespaces, and afterwards every namespace's address valid_lft and default route expiry read
//    back: each must have been set by this RA, not the one before);
//  - the agent's peak RSS (VmHWM);
//  - before the agent runs, one refresh pass in this process over the same containers with every
//    dependency timed: the per-container cost by kind (lock, record read/write, netns open,
//    netlink, the rest).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { defaultConfig, type HookConfig } from '../runtime/core/config';
import { ALL_ROUTERS, formatIPv6, UNSPECIFIED } from '../runtime/core/ipv6';
import { ICMP6_RA, type RouterAdvertisement } from '../runtime/core/nd-types';
import type { HeardRa } from '../runtime/core/plan';
import { NetnsCache } from '../runtime/agent/netns-cache';
import { attach } from '../runtime/pipeline/attach';
import { systemDeps, type PipelineDeps } from '../runtime/pipeline/deps';
import { refreshContainer } from '../runtime/pipeline/refresh';
import { loadOrCreateHostSecret } from '../runtime/system/host-secret';
import { RtnlKernel, type NetKernel } from '../runtime/system/kernel';
import { Logger, type Level } from '../runtime/system/log';
import { NdSocket } from '../runtime/system/nd/socket';
import { NetnsHandle } from '../runtime/system/netns';
import { RtnetlinkSocket } from '../runtime/system/rtnetlink/socket';
import { decodeAttrs } from '../runtime/wire/rtnetlink/codec';
import { RTM_GETROUTE, RTM_NEWADDR, RTM_NEWROUTE, RTNLGRP_IPV6_IFADDR } from '../runtime/wire/rtnetlink/constants';
import { agentSocketPath, type AgentRequest } from '../runtime/wire/agent-protocol';
import type { RunResult } from '../vm/lab/run';

const RTNLGRP_IPV6_ROUTE = 11;
const RTA_CACHEINFO = 12;
const USER_HZ = 100;
/** Namespaces whose kernel events are watched while the RA is applied (evenly spaced, the last included). */
const SAMPLED = 24;
const TARGET_MS = 1000;
const TARGET_RSS_MIB = 100;

export interface ScaleEnv {
  n: number;
  /** RAs sent after the agent's first: the last one measured and read back. */
  ras: number;
  labName: string;
  /** The agent's host netns (the lab's second host): the agent, the parent and this process's host side are there. */
  hostNetns: string;
  parent: string;
  /** The lab's radvd settings: what the RA says (seconds). */
  validLifetime: number;
  routerLifetime: number;
  work: string;
  stateDir: string;
  configFile: string;
  cli: string;
  hookEnv: Record<string, string>;
  note(line: string): void;
  run(file: string, args: readonly string[], o?: { input?: string; timeoutMs?: number; force?: boolean }): Promise<RunResult>;
  /** Namespaces made (cleanup deletes whatever is still listed). */
  netnsMade: Set<string>;
  /** The agent's pid while it runs (cleanup kills it). */
  agentPid: { pid: number | undefined };
}

export interface ScaleReport {
  containers: number;
  /** The state dir's file system (statfs f_type: tmpfs, ext4, …). */
  stateFs: string;
  /** A state record's mean size (bytes). */
  recordBytes: number;
  attachedMs: number;
  attachFailures: string[];
  profile: Record<string, number> | undefined;
  profileHeld: Record<string, number> | undefined;
  agentStartMs: number | null;
  firstWaveMs: number | null;
  raToDoneAgentMs: number | null;
  agentLine: string | null;
  raToDonePolledMs: number | null;
  kernelSampleFirstMs: number | null;
  kernelSampleLastMs: number | null;
  verified: { addresses: number; defaultRoutes: number; of: number; stale: string[] };
  vmHwmMiB: number | null;
  /** VmHWM once the agent had started (collected, registered every record), and after its first RA. */
  vmHwmStartMiB: number | null;
  /** The RAs before the measured one: the agent's time for each and its VmHWM after each. */
  earlier: { ms: number | null; hwm: number | null }[];
  vmHwmFirstRaMiB: number | null;
  vmRssMiB: number | null;
  fds: number | null;
  ratioToTarget: number | null;
  rssRatioToTarget: number | null;
  agentTail: string[];
}

const sleep = (n: number): Promise<void> => new Promise((r) => setTimeout(r, n));
const pad = (i: number): string => String(i + 1).padStart(4, '0');

class QuietLog extends Logger {
  readonly problems: string[] = [];
  constructor(work: string) {
    super('', path.join(work, 'no-syslog.sock'));
  }
  override log(level: Level, message: string): void {
    if (level === 'error' || level === 'warning') this.problems.push(message);
  }
}

/** `ip -batch` over lines, in chunks (one ip process per chunk; -force: an error does not stop the rest). */
async function ipBatch(env: ScaleEnv, lines: string[], force = false): Promise<void> {
  for (let i = 0; i < lines.length; i += 250) {
    const r = await env.run('ip', ['-force', '-batch', '-'], { input: `${lines.slice(i, i + 250).join('\n')}\n`, timeoutMs: 120000, force });
    if (r.code !== 0 && !force) throw new Error(`ip -batch: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  }
}

export async function deleteScaleNetns(env: ScaleEnv): Promise<void> {
  const names = [...env.netnsMade];
  if (!names.length) return;
  await ipBatch(env, names.map((n) => `netns del ${n}`), true).catch(() => undefined);
  for (const n of names) if (!fs.existsSync(`/run/netns/${n}`)) env.netnsMade.delete(n);
}

/** One request to the agent on agent.sock (one JSON line each way). */
export function askAgent(stateDir: string, req: AgentRequest, timeoutMs = 5000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(agentSocketPath(stateDir));
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`agent: no answer to ${req.op}`));
    }, timeoutMs);
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('data', (d) => (buf += d.toString('utf8')));
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as Record<string, unknown>);
      } catch {
        reject(new Error(`agent: bad answer ${JSON.stringify(buf.slice(0, 80))}`));
      }
    });
    sock.end(`${JSON.stringify(req)}\n`);
  });
}

const refreshesOf = (a: Record<string, unknown>): number => Number((a.counters as { refreshes?: number } | undefined)?.refreshes ?? NaN);

function procStatus(pid: number): { hwm: number | null; rss: number | null } {
  try {
    const s = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number | null => {
      const m = new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s);
      return m?.[1] ? Number(m[1]) / 1024 : null;
    };
    return { hwm: kb('VmHWM'), rss: kb('VmRSS') };
  } catch {
    return { hwm: null, rss: null };
  }
}

/** Every dependency of a refresh timed by kind (µs summed); the kernels it opens timed per netlink call. */
function profiled(base: PipelineDeps): { deps: PipelineDeps; us: Record<string, number> } {
  const us: Record<string, number> = { lock: 0, recordRead: 0, recordWrite: 0, netnsOpen: 0, netnsClose: 0, netlink: 0, hostNetlink: 0 };
  const time = <T>(kind: string, fn: () => T): T => {
    const t = performance.now();
    try {
      return fn();
    } finally {
      us[kind] = (us[kind] ?? 0) + (performance.now() - t) * 1000;
    }
  };
  const wrapKernel = (k: NetKernel, kind: string, closeKind?: string): NetKernel => {
    const w = Object.create(k) as Record<string, unknown>;
    for (const m of ['listLinks', 'findLink', 'addAddress', 'replaceAddress', 'deleteAddress', 'listAddresses', 'addRoute', 'replaceRoute', 'deleteRoute', 'listRoutes', 'setLink']) {
      const f = (k as unknown as Record<string, (...a: unknown[]) => unknown>)[m];
      if (f) w[m] = (...a: unknown[]): unknown => time(kind, () => f.apply(k, a));
    }
    if (closeKind) w.close = (): void => time(closeKind, () => k.close());
    return w as unknown as NetKernel;
  };
  const deps: PipelineDeps = {
    ...base,
    host: wrapKernel(base.host, 'hostNetlink'),
    openNetns: (p) => wrapKernel(time('netnsOpen', () => base.openNetns(p)), 'netlink', 'netnsClose'),
    store: {
      read: (id) => time('recordRead', () => base.store.read(id)),
      write: (r, o) => time('recordWrite', () => base.store.write(r, o)),
      remove: (id) => base.store.remove(id),
      list: () => base.store.list(),
      related: (q) => time('recordRead', () => base.store.related(q)),
    },
    withContainerLock: async (id, fn) => {
      const t = performance.now();
      let inner = 0;
      try {
        return await base.withContainerLock(id, async (lock) => {
          const t1 = performance.now();
          try {
            return await fn(lock);
          } finally {
            inner += performance.now() - t1;
          }
        });
      } finally {
        us.lock = (us.lock ?? 0) + (performance.now() - t - inner) * 1000;
      }
    },
  };
  return { deps, us };
}

/** The default route's expiry and the global address's valid lifetime in a netns (seconds), read from the kernel. */
function lifetimesIn(netnsPath: string): { valid: number | null; routeExpires: number | null } {
  const k = RtnlKernel.open(netnsPath);
  try {
    const addr = k.listAddresses().find((a) => a.scope === 0 && !formatIPv6(a.address).startsWith('fe80'));
    const msgs = k.sock.dump('list routes', RTM_GETROUTE, (() => {
      const b = Buffer.alloc(12);
      b.writeUInt8(10, 0);
      return b;
    })(), RTM_NEWROUTE);
    let routeExpires: number | null = null;
    for (const m of msgs) {
      if (m.payload.readUInt8(1) !== 0 || m.payload.readUInt8(4) !== 254) continue; // default, main
      const ci = decodeAttrs(m.payload.subarray(12)).get(RTA_CACHEINFO);
      if (ci && ci.length >= 12) routeExpires = Math.round(ci.readInt32LE(8) / USER_HZ);
    }
    return { valid: addr ? addr.validLifetime : null, routeExpires };
  } finally {
    k.close();
  }
}

export async function agentScale(env: ScaleEnv): Promise<ScaleReport> {
  const { n, note } = env;
  const names = Array.from({ length: n }, (_, i) => `${env.labName}-${pad(i)}`);
  const ids = names.map((x) => `${x}-c`);
  const log = new QuietLog(env.work);
  process.env.OCI_SLAAC_HOOK_STATE_LIB = env.hookEnv.OCI_SLAAC_HOOK_STATE_LIB;
  const secret = loadOrCreateHostSecret();
  const system = systemDeps(env.stateDir, log);
  system.host.close();
  const host = RtnlKernel.open(`/run/netns/${env.hostNetns}`);
  const base: PipelineDeps = { ...system, host };
  const parent = host.findLink(env.parent);
  if (!parent) throw new Error(`no parent ${env.parent}`);

  // The bench's own ear on the parent: every RA with its arrival time (performance.now()).
  const ras: { at: number; heard: HeardRa }[] = [];
  const ear = NdSocket.open({ netns: host.netns, ifname: parent.name, ifindex: parent.index, types: [ICMP6_RA] });
  ear.listen((packets) => {
    for (const p of packets) {
      if (p.result.ok && p.result.message.type === 'router-advertisement') ras.push({ at: p.at, heard: { router: p.meta.source, advertisement: p.result.message as RouterAdvertisement, receivedAt: p.bootAt } });
    }
  });
  const solicit = (): void => void ear.send({ type: 'router-solicitation', options: [] }, UNSPECIFIED, ALL_ROUTERS);
  /** The first RA heard after `after`; soliciting again every `resolicitMs` meanwhile (radvd may skip an RS that comes too soon after its last multicast RA). */
  const nextRa = async (after: number, ms: number, resolicitMs: number): Promise<{ at: number; heard: HeardRa }> => {
    const t0 = Date.now();
    let last = t0;
    for (;;) {
      const got = ras.find((r) => r.at > after);
      if (got) return got;
      if (Date.now() - t0 > ms) throw new Error('no RA from the lab router');
      if (Date.now() - last > resolicitMs) {
        solicit();
        last = Date.now();
      }
      await sleep(5);
    }
  };

  let child: ReturnType<typeof spawn> | undefined;
  const tail: string[] = [];
  const subs: RtnetlinkSocket[] = [];
  try {
    // 1. N namespaces (ip -batch: one process per 250).
    const t0 = performance.now();
    for (const x of names) env.netnsMade.add(x);
    await ipBatch(env, names.map((x) => `netns add ${x}`));
    note(`agent scale: ${n} network namespaces made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

    // 2. The lab's RA, as the agent's cache would hand it to every hook.
    solicit();
    const first = await nextRa(-1, 20000, 1500);
    const cfg: HookConfig = { ...defaultConfig(), parent: env.parent, state_dir: env.stateDir, dad: 'optimistic' };
    // The real store: admission and the name check read only the records of one name and one
    // netns (its index), not every record at every attach.
    const deps: PipelineDeps = { ...base, cachedRas: () => Promise.resolve([{ ...first.heard }]) };
    const t1 = performance.now();
    const attachFailures: string[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        try {
          await attach({ id: ids[i] ?? '', name: { name: ids[i] ?? '', source: 'id' }, netnsPath: `/run/netns/${names[i]}`, config: cfg, annotations: {}, secret }, deps);
        } catch (err) {
          attachFailures.push(`${ids[i]}: ${(err as Error).message}`);
        }
        if ((i + 1) % 250 === 0) note(`agent scale: ${i + 1}/${n} attached`);
      }
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    const attachedMs = performance.now() - t1;
    note(`agent scale: ${n - attachFailures.length}/${n} attached in ${(attachedMs / 1000).toFixed(1)} s${attachFailures.length ? ` (first failure: ${attachFailures[0]})` : ''}`);
    const sizes = fs.readdirSync(env.stateDir).filter((x) => x.endsWith('.json')).map((x) => fs.statSync(path.join(env.stateDir, x)).size);
    const recordBytes = sizes.length ? Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length) : 0;
    note(`agent scale: state records of ${recordBytes} bytes on average`);
    if (attachFailures.length === n) throw new Error(`no container attached: ${attachFailures[0]}`);

    // 3. Refresh passes in this process, every dependency timed (the pipeline's per-container cost):
    //    each netns opened per refresh (as the agent did before it held them), then held open.
    const pass = async (over: PipelineDeps, label: string): Promise<Record<string, number>> => {
      const { deps: pd, us } = profiled(over);
      const heard = { ...first.heard, receivedAt: base.clock() };
      const t = performance.now();
      let ok = 0;
      for (const id of ids) {
        const r = await refreshContainer(id, heard, pd, { secret }).catch(() => undefined);
        if (r && !r.gone) ok++;
      }
      const total = (performance.now() - t) * 1000;
      const known = Object.values(us).reduce((a, b) => a + b, 0);
      const out = Object.fromEntries([...Object.entries({ ...us, other: total - known, total }).map(([k, v]) => [k, Math.round((v / Math.max(1, ok)) * 10) / 10]), ['refreshed', ok]]);
      note(`agent scale: in-process refresh pass (${label}), µs per container: ${JSON.stringify(out)}`);
      return out;
    };
    const profile = await pass(base, 'netns opened per refresh');
    const cache = new NetnsCache(base.openNetns);
    for (const x of names) cache.openNetns(`/run/netns/${x}`).close();
    const profileHeld = await pass({ ...base, openNetns: (p) => cache.openNetns(p) }, 'netns held open');
    cache.closeAll();

    // 4. The agent, as a host runs it.
    const started = performance.now();
    let startedAt: number | null = null;
    const waves: { at: number; line: string; ms: number; count: number }[] = [];
    const agentLog = fs.createWriteStream(path.join(env.work, 'agent.log'));
    // In the lab's second host's netns (`ip netns exec` execs node in place: the pid is the agent's).
    const nodeArgs = (process.env.OSH_BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean);
    child = spawn('ip', ['netns', 'exec', env.hostNetns, process.execPath, ...nodeArgs, env.cli, 'agent', '--config', env.configFile], { env: env.hookEnv, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    env.agentPid.pid = child.pid;
    let rest = '';
    child.stderr?.on('data', (d: Buffer) => {
      agentLog.write(d);
      rest += d.toString('utf8');
      const lines = rest.split('\n');
      rest = lines.pop() ?? '';
      for (const l of lines) {
        tail.push(l);
        if (tail.length > 40) tail.shift();
        if (startedAt === null && l.includes('agent: started')) startedAt = performance.now();
        const m = /refreshed (\d+) container\(s\) in (\d+(?:\.\d+)?) ms/.exec(l);
        if (m) waves.push({ at: performance.now(), line: l.replace(/^oci-slaac-hook: /, ''), count: Number(m[1]), ms: Number(m[2]) });
      }
    });
    const exited = new Promise<number | null>((r) => child?.on('exit', (code) => r(code)));
    const pid = child.pid ?? 0;
    const ask = (req: AgentRequest): Promise<Record<string, unknown>> => askAgent(env.stateDir, req);
    // Started (its start-up collects and registers every record), then its own first RA (it solicits at start) applied to all.
    for (const t = Date.now(); startedAt === null; await sleep(20)) {
      if (Date.now() - t > 120000) throw new Error(`agent did not start: ${tail.slice(-3).join(' | ')}`);
      if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${tail.slice(-3).join(' | ')}`);
    }
    const agentStartMs = (startedAt ?? started) - started;
    const hwmAtStart = procStatus(child.pid ?? 0).hwm;
    note(`agent scale: agent pid ${pid} started in ${(agentStartMs / 1000).toFixed(2)} s; waiting for its first RA to be applied to all`);
    const tFirst = performance.now();
    let firstWaveMs: number | null = null;
    for (let last = -1, same = 0; ; await sleep(100)) {
      if (child.exitCode !== null) throw new Error(`agent exited ${child.exitCode}: ${tail.slice(-3).join(' | ')}`);
      const r = refreshesOf(await ask({ op: 'ping' }));
      if (r >= n && firstWaveMs === null) firstWaveMs = performance.now() - tFirst;
      same = r === last ? same + 1 : 0;
      last = r;
      if (r >= n && same >= 10) break; // a second quiet of 1 s
      if (performance.now() - tFirst > 120000) throw new Error(`the agent's first refreshes did not end (${r} of ${n})`);
    }
    const hwmAfterFirst = procStatus(child.pid ?? 0).hwm;
    note(`agent scale: VmHWM ${hwmAtStart?.toFixed(1)} MiB once started, ${hwmAfterFirst?.toFixed(1)} MiB after its first RA`);
    // Lifetimes set by the next RA must differ from the last one's: 4 s apart at least.
    await sleep(4000);

    // 5. The kernel's events in a sample of the namespaces.
    const sampleIdx = [...new Set(Array.from({ length: SAMPLED }, (_, k) => Math.round((k * (n - 1)) / Math.max(1, SAMPLED - 1))))];
    const events = new Map<number, number>();
    for (const i of sampleIdx) {
      const ns = NetnsHandle.open(`/run/netns/${names[i]}`);
      const s = RtnetlinkSocket.open(ns);
      ns.close();
      subs.push(s);
      s.subscribe([RTNLGRP_IPV6_IFADDR, RTNLGRP_IPV6_ROUTE], (msgs) => {
        if (msgs.some((m) => m.type === RTM_NEWADDR || m.type === RTM_NEWROUTE)) events.set(i, performance.now());
      });
    }

    // 6. RAs before the measured one (--agent-ras N: N-1 of them), each applied to all, 4.5 s apart:
    //    the agent's own time for each and its peak RSS after each (does it keep growing?).
    const earlier: { ms: number | null; hwm: number | null }[] = [];
    for (let k = 1; k < env.ras; k++) {
      const b = refreshesOf(await ask({ op: 'ping' }));
      const w0 = waves.length;
      const t = performance.now();
      solicit();
      await nextRa(t, 20000, 4000);
      for (const t1 = performance.now(); refreshesOf(await ask({ op: 'ping' })) < b + n && performance.now() - t1 < 30000; ) await sleep(20);
      await sleep(300);
      earlier.push({ ms: waves.slice(w0).find((w) => w.count >= n)?.ms ?? null, hwm: procStatus(pid).hwm });
      await sleep(4200);
    }
    if (earlier.length) note(`agent scale: earlier RAs: ${earlier.map((e) => `${e.ms ?? '—'} ms (VmHWM ${e.hwm?.toFixed(1)} MiB)`).join(', ')}`);

    // 7. The measured RA: radvd answers an RS from the parent with a multicast RA (after 0–500 ms).
    const before = refreshesOf(await ask({ op: 'ping' }));
    const wavesBefore = waves.length;
    const sent = performance.now();
    solicit();
    const ra = await nextRa(sent, 20000, 4000);
    let polledDone: number | null = null;
    for (;;) {
      const r = refreshesOf(await ask({ op: 'ping' }));
      if (r >= before + n) {
        polledDone = performance.now();
        break;
      }
      if (performance.now() - ra.at > 30000) break;
      await sleep(20);
    }
    await sleep(300);
    for (const s of subs) s.close();
    subs.length = 0;
    const wave = waves.slice(wavesBefore).find((w) => w.count >= n) ?? waves[wavesBefore];
    const sampleTimes = [...events.values()].map((x) => x - ra.at);

    // 8. Every namespace read back: this RA's lifetimes (the one before is ≥ 4 s older).
    const heardAgo = (performance.now() - ra.at) / 1000;
    const validWant = env.validLifetime - heardAgo - 2;
    const routeWant = env.routerLifetime - heardAgo - 2;
    const verified = { addresses: 0, defaultRoutes: 0, of: n, stale: [] as string[] };
    for (const x of names) {
      try {
        const lt = lifetimesIn(`/run/netns/${x}`);
        if (lt.valid !== null && lt.valid >= validWant) verified.addresses++;
        else if (verified.stale.length < 5) verified.stale.push(`${x}: valid_lft ${lt.valid}`);
        if (lt.routeExpires !== null && lt.routeExpires >= routeWant) verified.defaultRoutes++;
        else if (verified.stale.length < 5) verified.stale.push(`${x}: default route expires ${lt.routeExpires}`);
      } catch (err) {
        if (verified.stale.length < 5) verified.stale.push(`${x}: ${(err as Error).message}`);
      }
    }
    const st = procStatus(pid);
    let fds: number | null = null;
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // gone
    }
    const raToDoneAgentMs = wave ? wave.ms : null;
    const raToDonePolledMs = polledDone !== null ? polledDone - ra.at : null;
    const best = raToDoneAgentMs ?? raToDonePolledMs;

    // 9. The agent stopped (SIGTERM).
    child.kill('SIGTERM');
    const code = await Promise.race([exited, sleep(5000).then(() => 'timeout' as const)]);
    if (code === 'timeout') child.kill('SIGKILL');
    env.agentPid.pid = undefined;
    agentLog.end();
    const fsType = fs.statfsSync(env.stateDir).type;
    const stateFs = ({ 0x01021994: 'tmpfs', 0xef53: 'ext4', 0x58465342: 'xfs', 0x9123683e: 'btrfs', 0x794c7630: 'overlayfs' } as Record<number, string>)[fsType] ?? `0x${fsType.toString(16)}`;
    return {
      containers: n,
      stateFs,
      recordBytes,
      attachedMs,
      attachFailures,
      profile,
      profileHeld,
      agentStartMs,
      firstWaveMs,
      raToDoneAgentMs,
      agentLine: wave?.line ?? null,
      raToDonePolledMs,
      kernelSampleFirstMs: sampleTimes.length ? Math.min(...sampleTimes) : null,
      kernelSampleLastMs: sampleTimes.length ? Math.max(...sampleTimes) : null,
      verified,
      vmHwmMiB: st.hwm,
      vmHwmStartMiB: hwmAtStart,
      earlier,
      vmHwmFirstRaMiB: hwmAfterFirst,
      vmRssMiB: st.rss,
      fds,
      ratioToTarget: best !== null ? best / TARGET_MS : null,
      rssRatioToTarget: st.hwm !== null ? st.hwm / TARGET_RSS_MIB : null,
      agentTail: tail.slice(-8),
    };
  } finally {
    for (const s of subs) s.close();
    ear.close();
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    env.agentPid.pid = undefined;
    host.close();
  }
}

export function printScale(r: ScaleReport): string {
  const f = (v: number | null | undefined, d = 0): string => (v === null || v === undefined ? '—' : v.toFixed(d));
  const lines = [
    `agent at scale: ${r.containers} containers on one parent (attached in ${f(r.attachedMs / 1000, 1)} s${r.attachFailures.length ? `, ${r.attachFailures.length} failed` : ''}), state dir on ${r.stateFs}, records of ${r.recordBytes} bytes`,
    `  agent start (collect + register all)            ${f(r.agentStartMs)} ms`,
    `  its first RA applied to all (polled)            ${f(r.firstWaveMs)} ms`,
    `  one RA → all refreshed (agent's own count)      ${f(r.raToDoneAgentMs)} ms   ${r.ratioToTarget !== null ? `${r.ratioToTarget.toFixed(2)}× the 1 s target` : ''}`,
    `  one RA → all refreshed (refreshes polled)       ${f(r.raToDonePolledMs)} ms`,
    `  kernel events in ${SAMPLED} sampled netns: first ${f(r.kernelSampleFirstMs)} ms, last ${f(r.kernelSampleLastMs)} ms after the RA`,
    `  read back: ${r.verified.addresses}/${r.verified.of} addresses and ${r.verified.defaultRoutes}/${r.verified.of} default routes carry this RA's lifetimes${r.verified.stale.length ? ` (not: ${r.verified.stale.join('; ')})` : ''}`,
    `  agent peak RSS (VmHWM) ${f(r.vmHwmMiB, 1)} MiB (${r.rssRatioToTarget !== null ? `${r.rssRatioToTarget.toFixed(2)}× the 100 MiB target` : '—'}; ${f(r.vmHwmStartMiB, 1)} once started, ${f(r.vmHwmFirstRaMiB, 1)} after its first RA), RSS now ${f(r.vmRssMiB, 1)} MiB, ${r.fds ?? '—'} fds`,
  ];
  if (r.earlier.length) lines.push(`  RAs before the measured one: ${r.earlier.map((e) => `${f(e.ms)} ms (VmHWM ${f(e.hwm, 1)} MiB)`).join(', ')}`);
  if (r.agentLine) lines.push(`  agent: ${r.agentLine}`);
  if (r.profile) lines.push(`  in-process refresh, µs per container, netns opened each time: ${Object.entries(r.profile).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  if (r.profileHeld) lines.push(`  in-process refresh, µs per container, netns held open:       ${Object.entries(r.profileHeld).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  return lines.join('\n');
}
