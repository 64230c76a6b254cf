// The per-container firewall's cost on the data path (`npm run bench -- --policy`, part of
// scripts/bench.ts), as ratios against an open container measured in the same run:
//  - two containers attached by the real hook (dist/oci-slaac-hook.js createRuntime, as a runtime
//    runs it) in the host netns of a netns lab (`bpo`, a real radvd): `open` (no annotations, so
//    no nf_tables table at all) and `restricted` with a realistic ruleset — expose
//    tcp:8080,tcp:443,udp:53,tcp:9000-9100, networks blue and payments (their member sets filled
//    by the bench with 200 addresses each, through NftHandle.setMembers as the agent fills them),
//    10 allow_from prefixes. None of them admits the router: its new connections to :8080 run
//    past every allow_from and set lookup to the exposure rule, after conntrack's new-connection
//    path — the realistic case.
//  - router → container over the lab's link, to :8080 of a node server in the container netns:
//    TCP throughput (a bulk stream for a fixed time, MB/s) and connection rate (connect, 1-byte
//    reply, close; a few in parallel; connections/s), each by a node client in the router netns
//    that times itself (its start-up excluded). Open and restricted alternate within each round
//    (which goes first alternates too); medians, and restricted/open.
// Nothing is gated on absolute numbers. Everything it makes (lab, container netns, processes, the
// work dir) is removed at the end, on failure, and by policyTeardown() (bench.ts's cleanup).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ContainerRecord } from '../runtime/core/record';
import { FIREWALL_TABLE } from '../runtime/ops/firewall';
import { NetnsHandle } from '../runtime/system/netns';
import { NftHandle } from '../runtime/system/nftables';
import { fakeContainer, runHook, type FakeContainer } from '../vm/lab/fake-container';
import { labUp, type Lab } from '../vm/lab/lab';
import { median, run, succeeded, type RunResult } from '../vm/lab/run';

const LAB_ENV: Record<string, string> = {
  LAB_NAME: 'bpo',
  LAB_HOST_NETNS: 'bpo-host',
  LAB_PREFIX: '2001:db8:e6::/64',
  LAB_ROUTER_ADDR: '2001:db8:e6::1',
  LAB_PEER_ADDR: '2001:db8:e6::100',
  LAB_HOST_ADDR: '2001:db8:e6::2/64',
  LAB_RDNSS: '',
  LAB_RETRANS_MS: '300',
};
const SYS_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PORT = 8080;
const MEMBERS_PER_NETWORK = 200;
const EXPOSE = 'tcp:8080,tcp:443,udp:53,tcp:9000-9100';
const NETWORKS = ['blue', 'payments'];
/** 10 prefixes, none holding the router (2001:db8:e6::1). */
const ALLOW_FROM = Array.from({ length: 10 }, (_, i) => `2001:db8:${(0xa0 + i).toString(16)}::/48`);
/** Member addresses on the lab's /64, never the router's: `2001:db8:e6::b:N` (blue), `…::c:N` (payments). */
const members = (group: number): string[] => Array.from({ length: MEMBERS_PER_NETWORK }, (_, i) => `2001:db8:e6::${(0xb + group).toString(16)}:${(i + 1).toString(16)}`);

export interface PolicyBenchOptions {
  /** Measured rounds (each: both containers, both measures). */
  rounds: number;
  /** Discarded rounds before (shorter: ND, conntrack, JIT warm). */
  warmup: number;
  note(line: string): void;
  /** Bulk stream length per sample (default 2000 ms). */
  bulkMs?: number;
  /** Connections per connection-rate sample (default 2000), and how many at once (default 16). */
  connections?: number;
  parallel?: number;
}

interface Pair {
  open: number;
  restricted: number;
  /** restricted / open (medians). */
  ratio: number;
}

export interface PolicyReport {
  rounds: number;
  warmup: number;
  lab: { name: string; prefix: string; parent: string };
  restricted: {
    expose: string;
    networks: string[];
    allowFrom: number;
    /** Rules in the table (input + guard), the guard's, and where the :8080 accept sits in it (1-based). */
    rules: number;
    guardRules: number;
    acceptAt: number;
    setElements: number;
    /** The table drops what it should (a connect to a port not exposed timed out; open: refused). */
    enforced: boolean;
  };
  throughput: Pair & { unit: 'MB/s'; bulkMs: number; samples: { open: number[]; restricted: number[] } };
  connRate: Pair & { unit: 'conn/s'; connections: number; parallel: number; samples: { open: number[]; restricted: number[] } };
}

// ------------------------------------------------------------------ node programs

// In the container netns: :8080 greets each connection with one byte, counts what it receives and
// answers the count at the client's end (nothing when it received nothing), then closes.
const SERVER = `
const net = require('net');
const srv = net.createServer((s) => {
  let n = 0;
  s.setNoDelay(true);
  s.on('error', () => {});
  s.on('data', (d) => { n += d.length; });
  s.on('end', () => s.end(n ? String(n) : ''));
  s.write('x');
});
srv.listen(Number(process.argv[1]), '::', () => process.stdout.write('listening\\n'));
`;

// In the router netns: ADDRESS PORT MS. After the greeting, writes 256 KiB chunks for MS ms, ends,
// and waits for the server's count: {bytes, ns} from the first write to the count's arrival.
const BULK = `
const net = require('net');
const [host, port, dur] = process.argv.slice(1);
const chunk = Buffer.alloc(256 * 1024, 0x61);
const fail = (e) => { process.stdout.write(JSON.stringify({ error: String(e) }) + '\\n'); process.exit(1); };
const s = net.connect({ host, port: Number(port) });
let hello = false, got = '', t0 = 0n, stop = 0n;
s.setTimeout(15000, () => fail('timeout'));
s.on('error', (e) => fail(e.code || e.message));
const pump = () => {
  while (process.hrtime.bigint() < stop) if (!s.write(chunk)) return void s.once('drain', pump);
  s.end();
};
s.on('data', (d) => {
  if (!hello) { hello = true; d = d.subarray(1); t0 = process.hrtime.bigint(); stop = t0 + BigInt(dur) * 1000000n; pump(); }
  got += d;
});
s.on('end', () => {
  const ns = Number(process.hrtime.bigint() - t0);
  process.stdout.write(JSON.stringify({ bytes: Number(got), ns }) + '\\n');
  process.exit(0);
});
`;

// In the router netns: ADDRESS PORT TOTAL PARALLEL. TOTAL connections, PARALLEL at a time: connect,
// wait for the greeting byte, end, wait for close. {done, failed, ns}.
const CONNS = `
const net = require('net');
const [host, port, total, parallel] = process.argv.slice(1).map((x, i) => (i ? Number(x) : x));
let started = 0, done = 0, failed = 0, why = '';
const t0 = process.hrtime.bigint();
const one = () => {
  started++;
  const s = net.connect({ host, port });
  let ok = false;
  s.setTimeout(5000, () => { why = 'timeout'; s.destroy(); });
  s.on('error', (e) => { why = e.code || e.message; });
  s.on('data', () => { if (!ok) { ok = true; s.end(); } });
  s.on('close', () => {
    if (ok) done++; else failed++;
    if (started < total) one();
    else if (done + failed === total) {
      process.stdout.write(JSON.stringify({ done, failed, why, ns: Number(process.hrtime.bigint() - t0) }) + '\\n');
      process.exit(0);
    }
  });
};
for (let i = 0; i < Math.min(parallel, total); i++) one();
`;

// In the router netns: ADDRESS PORT. One connect, 700 ms at most: 'connected', 'timeout' or the error code.
const PROBE = `
const s = require('net').connect({ host: process.argv[1], port: Number(process.argv[2]) });
const say = (w) => { process.stdout.write(w + '\\n'); process.exit(0); };
s.setTimeout(700, () => say('timeout'));
s.on('connect', () => say('connected'));
s.on('error', (e) => say(e.code || e.message));
`;

// ------------------------------------------------------------------ what it made

/** Killed when teardown starts: the servers (each in a process group of its own) and any client. */
let abort = new AbortController();
let labStarting: Promise<Lab> | undefined;
let work: string | undefined;
let hook: { config: string; env: Record<string, string>; hostNetns: string } | undefined;
const containers: FakeContainer[] = [];
const servers: Promise<RunResult>[] = [];
let tearing: Promise<void> | undefined;

/** Remove everything policyBench made (idempotent; safe at any point, also while it runs). */
export function policyTeardown(): Promise<void> {
  if (tearing) return tearing;
  tearing = (async () => {
    abort.abort();
    await Promise.allSettled(servers);
    for (const c of containers.splice(0)) {
      if (hook) await runHook('poststop', c.state('stopped'), { ...hook, timeoutMs: 15_000 }).catch(() => undefined);
      await c.remove().catch(() => undefined);
    }
    if (labStarting) {
      const lab = await labStarting.catch(() => undefined); // labUp() takes down a lab whose `up` failed
      labStarting = undefined;
      if (lab) await lab.down().catch(() => undefined);
    }
    if (work) fs.rmSync(work, { recursive: true, force: true });
    work = undefined;
  })();
  return tearing;
}

// ------------------------------------------------------------------ helpers

const oneLine = (s: string): string => s.trim().split('\n').filter(Boolean).pop() ?? '';


/** `node -e CODE ARGS` in `netns` (tap's or a caller's NODE_OPTIONS removed), PATH only. */
function nodeIn(netns: string, code: string, args: (string | number)[], timeoutMs: number, onLine?: (l: string) => void): Promise<RunResult> {
  return run('ip', ['netns', 'exec', netns, 'env', '-u', 'NODE_OPTIONS', process.execPath, '-e', code, ...args.map(String)], {
    baseEnv: { PATH: SYS_PATH },
    timeoutMs,
    detached: true,
    signal: abort.signal,
    ...(onLine ? { onLine } : {}),
  });
}

/** The last stdout line of a client as JSON; its `error` thrown. */
function result<T>(what: string, r: RunResult): T {
  let v: (T & { error?: string }) | undefined;
  try {
    v = JSON.parse(oneLine(r.stdout)) as T & { error?: string };
  } catch {
    v = undefined;
  }
  if (!v || v.error !== undefined || r.code !== 0) throw new Error(`${what}: ${v?.error ?? (oneLine(r.stderr) || `exit ${r.code}`)}`);
  return v;
}

/** The server in `netns`, resolved once it listens (it runs until teardown). */
function serve(netns: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = nodeIn(netns, SERVER, [PORT], 3_600_000, (l) => l === 'listening' && resolve());
    servers.push(done);
    void done.then((r) => reject(new Error(`server in ${netns} exited (${r.code}): ${oneLine(r.stderr)}`)));
  });
}

interface Target {
  kind: 'open' | 'restricted';
  netns: string;
  address: string;
}

// ------------------------------------------------------------------ the bench

export async function policyBench(o: PolicyBenchOptions): Promise<PolicyReport> {
  const bulkMs = o.bulkMs ?? 2000;
  const connections = o.connections ?? 2000;
  const parallel = o.parallel ?? 16;
  abort = new AbortController();
  tearing = undefined;
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-bpo-'));
  try {
    fs.chmodSync(work, 0o755);
    const lib = path.join(work, 'lib');
    fs.mkdirSync(lib, { mode: 0o700 });
    labStarting = labUp(LAB_ENV);
    const lab = await labStarting;
    if (!lab.hostNetns) throw new Error('the lab has no host netns');
    const stateDir = path.join(work, 'state');
    const config = path.join(work, 'config.toml');
    fs.writeFileSync(config, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\n`);
    hook = { config, env: { OCI_SLAAC_HOOK_STATE_LIB: lib, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') }, hostNetns: lab.hostNetns };
    // Thousands of client connections a round, closed by the client: let it reuse TIME_WAIT ports.
    succeeded('tcp_tw_reuse in the router netns', await run('ip', ['netns', 'exec', lab.routerNetns, 'sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1'], { baseEnv: { PATH: SYS_PATH } }));

    const attach = async (kind: Target['kind'], annotations: Record<string, string>): Promise<Target> => {
      const id = `bpo-${process.pid}-${kind}`;
      const c = await fakeContainer({ id, netns: id, dir: work as string, annotations });
      containers.push(c);
      const r = await runHook('createRuntime', c.state('creating'), { ...(hook as NonNullable<typeof hook>), timeoutMs: 30_000 });
      if (r.code !== 0) throw new Error(`createRuntime (${kind}) failed (${r.code}): ${oneLine(r.stderr)}`);
      const record = JSON.parse(fs.readFileSync(path.join(stateDir, `${id}.json`), 'utf8')) as ContainerRecord;
      const address = record.addresses[0]?.address;
      if (!address) throw new Error(`${kind}: the record has no address`);
      o.note(`${kind}: ${address} (hook ${r.ms.toFixed(0)} ms)`);
      return { kind, netns: c.netns, address };
    };
    o.note(`lab ${lab.name} up; attaching two containers…`);
    const open = await attach('open', {});
    const restricted = await attach('restricted', {
      'oci-slaac-hook.policy': 'restricted',
      'oci-slaac-hook.expose': EXPOSE,
      'oci-slaac-hook.networks': NETWORKS.join(','),
      'oci-slaac-hook.allow_from': ALLOW_FROM.join(','),
    });

    // The networks' members, as the agent would put them there (the hook, with no DNS and no
    // other member on this host, made the sets empty); then the table as the kernel holds it.
    const ns = NetnsHandle.open(`/run/netns/${restricted.netns}`);
    let view: ReturnType<NftHandle['read']>;
    let openTable: ReturnType<NftHandle['read']>;
    try {
      const nft = NftHandle.open(ns);
      try {
        NETWORKS.forEach((n, i) => nft.setMembers(FIREWALL_TABLE, n, members(i)));
        view = nft.read(FIREWALL_TABLE);
      } finally {
        nft.close();
      }
    } finally {
      ns.close();
    }
    const openNs = NetnsHandle.open(`/run/netns/${open.netns}`);
    try {
      const nft = NftHandle.open(openNs);
      try {
        openTable = nft.read(FIREWALL_TABLE);
      } finally {
        nft.close();
      }
    } finally {
      openNs.close();
    }
    if (!view) throw new Error(`restricted: no table inet ${FIREWALL_TABLE} in ${restricted.netns}`);
    if (openTable) throw new Error(`open: a table inet ${FIREWALL_TABLE} in ${open.netns}`);
    const guard = view.rules.filter((r) => r.chain === 'guard');
    const setElements = Object.values(view.sets).reduce((n, s) => n + s.length, 0);
    if (setElements !== NETWORKS.length * MEMBERS_PER_NETWORK) throw new Error(`restricted: ${setElements} set elements, expected ${NETWORKS.length * MEMBERS_PER_NETWORK}`);
    // Guard order (wire/nftables/ruleset.ts): ct, 3 ICMPv6, echo, allow_from…, networks…, expose…, drop.
    const acceptAt = 1 + 3 + 1 + ALLOW_FROM.length + NETWORKS.length + 1;

    await serve(open.netns);
    await serve(restricted.netns);
    // The firewall is there: a port not exposed (nothing listens) is refused when open, dropped when restricted.
    const probe = async (t: Target): Promise<string> => oneLine((await nodeIn(lab.routerNetns, PROBE, [t.address, PORT + 1], 10_000)).stdout);
    const [po, pr] = [await probe(open), await probe(restricted)];
    const enforced = po === 'ECONNREFUSED' && pr === 'timeout';
    if (!enforced) o.note(`warning: :${PORT + 1} open → ${po}, restricted → ${pr} (expected ECONNREFUSED, timeout)`);

    const bulk = async (t: Target, ms: number): Promise<number> => {
      const v = result<{ bytes: number; ns: number }>(`bulk → ${t.kind}`, await nodeIn(lab.routerNetns, BULK, [t.address, PORT, ms], ms + 20_000));
      return v.bytes / 1e6 / (v.ns / 1e9);
    };
    const conns = async (t: Target, n: number): Promise<number> => {
      const v = result<{ done: number; failed: number; why: string; ns: number }>(`connections → ${t.kind}`, await nodeIn(lab.routerNetns, CONNS, [t.address, PORT, n, parallel], 60_000));
      if (v.failed) throw new Error(`connections → ${t.kind}: ${v.failed} of ${n} failed (${v.why})`);
      return v.done / (v.ns / 1e9);
    };
    const samples = { throughput: { open: [] as number[], restricted: [] as number[] }, connRate: { open: [] as number[], restricted: [] as number[] } };
    for (let i = -o.warmup; i < o.rounds; i++) {
      const warm = i < 0;
      const order = i % 2 === 0 ? [open, restricted] : [restricted, open];
      for (const t of order) {
        const v = await bulk(t, warm ? 300 : bulkMs);
        if (!warm) samples.throughput[t.kind].push(v);
      }
      for (const t of order) {
        const v = await conns(t, warm ? Math.min(connections, 300) : connections);
        if (!warm) samples.connRate[t.kind].push(v);
      }
      o.note(warm ? `warm-up ${i + o.warmup + 1}/${o.warmup}` : `round ${i + 1}/${o.rounds}`);
    }
    const pair = (s: { open: number[]; restricted: number[] }): Pair => {
      const a = median(s.open);
      const b = median(s.restricted);
      return { open: a, restricted: b, ratio: b / a };
    };
    return {
      rounds: o.rounds,
      warmup: o.warmup,
      lab: { name: lab.name, prefix: lab.config.prefix, parent: lab.hostIf },
      restricted: { expose: EXPOSE, networks: NETWORKS, allowFrom: ALLOW_FROM.length, rules: view.rules.length, guardRules: guard.length, acceptAt, setElements, enforced },
      throughput: { ...pair(samples.throughput), unit: 'MB/s', bulkMs, samples: samples.throughput },
      connRate: { ...pair(samples.connRate), unit: 'conn/s', connections, parallel, samples: samples.connRate },
    };
  } finally {
    await policyTeardown();
  }
}

export function printPolicy(r: PolicyReport): string {
  const p = r.restricted;
  const row = (label: string, x: Pair, digits: number): string =>
    `  ${label.padEnd(38)}${x.open.toFixed(digits).padStart(10)}${x.restricted.toFixed(digits).padStart(12)}${`${x.ratio.toFixed(3)}x`.padStart(10)}`;
  return [
    `inbound policy on the data path (medians of ${r.rounds} interleaved rounds, +${r.warmup} warm-up)`,
    `  lab ${r.lab.name}: ${r.lab.prefix}, parent ${r.lab.parent}; router netns → container :8080`,
    `  restricted: expose ${p.expose}; networks ${p.networks.join(',')}; ${p.allowFrom} allow_from prefixes`,
    `    table inet ${FIREWALL_TABLE}: ${p.rules} rules (${p.guardRules} in guard; :8080 accepted by rule ${p.acceptAt}), ${p.setElements} set elements; ${p.enforced ? 'drops what it should' : 'NOT ENFORCING (see above)'}`,
    `  ${''.padEnd(38)}${'open'.padStart(10)}${'restricted'.padStart(12)}${'r/o'.padStart(10)}`,
    row(`TCP bulk, ${r.throughput.bulkMs} ms stream (MB/s)`, r.throughput, 0),
    row(`conn+1B+close x${r.connRate.connections}, ${r.connRate.parallel} at once (/s)`, r.connRate, 0),
  ].join('\n');
}
