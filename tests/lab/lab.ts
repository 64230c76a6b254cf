// Test helpers that drive the netns lab (vm/lab.sh) and the independent ND
// tools around it: tcpdump (capture on the lab bridge), tshark (decode and
// flag bad packets), rdisc6 (an independent Router Discovery client).
//
// Everything here runs external programs as root; nothing throws from run().

import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

/** The checkout: the nearest directory above this file (or the bundle using it) with vm/lab.sh. */
export const REPO_ROOT = ((): string => {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'vm', 'lab.sh'))) return dir;
  }
  return path.resolve(__dirname, '..', '..');
})();
export const LAB_SH = path.join(REPO_ROOT, 'vm', 'lab.sh');
/** The 32-bit all-ones lifetime ("infinity" in radvd.conf, "infinite" in rdisc6). */
export const INFINITE = 0xffffffff;

// ---------------------------------------------------------------- run()

export interface RunOptions {
  /** Extra environment, merged over process.env (or over `baseEnv`). */
  env?: Record<string, string | undefined>;
  /** Replace process.env as the base environment. */
  baseEnv?: Record<string, string | undefined>;
  /** Run inside this named netns (`ip netns exec NAME ...`). */
  netns?: string;
  cwd?: string;
  /** Written to stdin, which is then closed. stdin is /dev/null otherwise. */
  input?: string | Buffer;
  /** SIGKILL after this many ms (code is then 128 + 9). Default 60000. */
  timeoutMs?: number;
}

export interface RunResult {
  /** Exit code; 128 + signal number if killed by a signal; -1 if it could not be started. */
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started (ENOENT, ...). */
  error?: Error;
  timedOut: boolean;
}

const SIGNUMS: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15, SIGPIPE: 13, SIGABRT: 6, SIGSEGV: 11 };

function mergeEnv(opts: RunOptions): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(opts.baseEnv ?? process.env)) if (v !== undefined) out[k] = v;
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  if (!out.PATH) out.PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return out;
}

function wrapNetns(cmd: string, args: readonly string[], netns: string | undefined): [string, string[]] {
  return netns ? ['ip', ['netns', 'exec', netns, cmd, ...args]] : [cmd, [...args]];
}

/** Run a program to completion; never throws, never rejects. */
export function run(cmd: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const [file, argv] = wrapNetns(cmd, args, opts.netns);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let settled = false;
    const finish = (r: RunResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    let child: ChildProcess;
    try {
      child = spawn(file, argv, {
        env: mergeEnv(opts),
        cwd: opts.cwd ?? REPO_ROOT,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      resolve({ code: -1, signal: null, stdout: '', stderr: error.message, error, timedOut: false });
      return;
    }
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
    child.on('error', (error) => {
      finish({ code: -1, signal: null, stdout, stderr: stderr + error.message, error, timedOut });
    });
    child.on('close', (code, signal) => {
      const c = code ?? (signal ? 128 + (SIGNUMS[signal] ?? 0) : -1);
      finish({ code: c, signal, stdout, stderr, timedOut });
    });
  });
}

function failure(what: string, r: RunResult): Error {
  return new Error(`${what} failed (code ${r.code}${r.timedOut ? ', timed out' : ''})\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`);
}

// ---------------------------------------------------------------- the lab

export type Preference = 'low' | 'medium' | 'high';

/** The effective lab configuration, i.e. what radvd is configured to send. */
export interface LabConfig {
  prefix: string; // "2001:db8:1::/64"
  validLifetime: number; // INFINITE for "infinity"
  preferredLifetime: number;
  mtu: number; // 0 = no MTU option
  rdnss: string[];
  rdnssLifetime: number;
  dnssl: string[];
  dnsslLifetime: number;
  routes: string[]; // route information options, "prefix/len"
  routePreference: Preference;
  routeLifetime: number;
  routerLifetime: number;
  curHopLimit: number;
  reachableMs: number;
  retransMs: number;
  managed: boolean;
  other: boolean;
  routerPreference: Preference;
  raInterval: number; // MaxRtrAdvInterval
  raMinInterval: number; // MinRtrAdvInterval
  routerAddr: string; // without /len
  routerMac: string; // lower case, colon separated
  hostMac: string;
  peerAddr: string; // without /len
  peerMac: string;
}

export interface Lab {
  name: string;
  /** The host NIC (plays the physical NIC). */
  hostIf: string;
  /** Name of the host netns; undefined = the root network namespace. */
  hostNetns: string | undefined;
  /** /run/netns/NAME of the host netns; undefined = the root network namespace. */
  hostNetnsPath: string | undefined;
  routerNetns: string;
  routerIf: string;
  peerNetns: string;
  peerIf: string;
  lanNetns: string;
  bridge: string;
  runDir: string;
  config: LabConfig;
  /** LAB_HOST_ADDR without /len: the host NIC's static address; undefined = none (link-local only). */
  hostAddr?: string;
  /** Second host (LAB_HOSTB=1): its netns, NIC and static address (without /len; undefined = none). */
  hostbNetns?: string;
  hostbIf?: string;
  hostbAddr?: string;
  /** DNS role (LAB_DNS=bind|knot): the server, its netns ('' = current netns), address (without /len) and port. */
  dnsServer?: 'bind' | 'knot';
  dnsNetns?: string;
  dnsAddr?: string;
  dnsPort?: number;
  /** Forward and reverse (ip6.arpa) zone, without trailing dot. */
  dnsZone?: string;
  dnsReverseZone?: string;
  /** BIND-style TSIG key file (hmac-sha256) allowed to update AAAA, PTR and TXT in both zones; `nsupdate -k` reads it. */
  dnsKeyFile?: string;
  /** Every effective LAB_* value as printed by `vm/lab.sh env`. */
  env: Readonly<Record<string, string>>;
  /** stdout of `vm/lab.sh up`. */
  upOutput: string;
  /** `vm/lab.sh down` with the same environment; rejects if it fails. */
  down(): Promise<RunResult>;
  /** `vm/lab.sh status`. */
  status(): Promise<RunResult>;
}

/** Parse "NAME=value" lines. */
export function parseEnvLines(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1);
  }
  return out;
}

function lifetime(v: string, name: string): number {
  if (v === 'infinity') return INFINITE;
  if (!/^\d+$/.test(v)) throw new Error(`${name}: not a lifetime: '${v}'`);
  return Number(v);
}

function pref(v: string, name: string): Preference {
  if (v === 'low' || v === 'medium' || v === 'high') return v;
  throw new Error(`${name}: not a preference: '${v}'`);
}

const words = (v: string | undefined): string[] => (v ?? '').split(/\s+/).filter((w) => w.length > 0);
const noLen = (a: string): string => a.replace(/\/\d+$/, '');

/** Turn `vm/lab.sh env` values into a typed LabConfig. */
export function labConfigFromEnv(env: Record<string, string>): LabConfig {
  const get = (k: string): string => {
    const v = env[k];
    if (v === undefined) throw new Error(`lab env lacks ${k}`);
    return v;
  };
  const num = (k: string): number => {
    const v = get(k);
    if (!/^\d+$/.test(v)) throw new Error(`${k}: not a number: '${v}'`);
    return Number(v);
  };
  return {
    prefix: get('LAB_PREFIX'),
    validLifetime: lifetime(get('LAB_VALID_LIFETIME'), 'LAB_VALID_LIFETIME'),
    preferredLifetime: lifetime(get('LAB_PREFERRED_LIFETIME'), 'LAB_PREFERRED_LIFETIME'),
    mtu: num('LAB_MTU'),
    rdnss: words(env.LAB_RDNSS),
    rdnssLifetime: lifetime(get('LAB_RDNSS_LIFETIME'), 'LAB_RDNSS_LIFETIME'),
    dnssl: words(env.LAB_DNSSL),
    dnsslLifetime: lifetime(get('LAB_DNSSL_LIFETIME'), 'LAB_DNSSL_LIFETIME'),
    routes: words(env.LAB_ROUTE),
    routePreference: pref(get('LAB_ROUTE_PREFERENCE'), 'LAB_ROUTE_PREFERENCE'),
    routeLifetime: lifetime(get('LAB_ROUTE_LIFETIME'), 'LAB_ROUTE_LIFETIME'),
    routerLifetime: num('LAB_ROUTER_LIFETIME'),
    curHopLimit: num('LAB_CUR_HOP_LIMIT'),
    reachableMs: num('LAB_REACHABLE_MS'),
    retransMs: num('LAB_RETRANS_MS'),
    managed: get('LAB_MANAGED') === 'on',
    other: get('LAB_OTHER') === 'on',
    routerPreference: pref(get('LAB_ROUTER_PREFERENCE'), 'LAB_ROUTER_PREFERENCE'),
    raInterval: num('LAB_RA_INTERVAL'),
    raMinInterval: num('LAB_RA_MIN_INTERVAL'),
    routerAddr: noLen(get('LAB_ROUTER_ADDR')),
    routerMac: get('LAB_ROUTER_MAC').toLowerCase(),
    hostMac: get('LAB_HOST_MAC').toLowerCase(),
    peerAddr: noLen(get('LAB_PEER_ADDR')),
    peerMac: get('LAB_PEER_MAC').toLowerCase(),
  };
}

/** Only LAB_* variables of the test process are dropped so a test's lab is exactly what it asks for. */
function labBaseEnv(): Record<string, string | undefined> {
  const base: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LAB_')) base[k] = v;
  return base;
}

/**
 * Bring the lab up (`vm/lab.sh up`) with the given LAB_* variables (defaults
 * for the rest; LAB_* of the test process itself are ignored). On failure the
 * partial lab is taken down again and the promise rejects.
 */
export async function labUp(env: Record<string, string> = {}): Promise<Lab> {
  const baseEnv = labBaseEnv();
  const up = await run('sh', [LAB_SH, 'up'], { baseEnv, env, timeoutMs: 60_000 });
  if (up.code !== 0) {
    await run('sh', [LAB_SH, 'down'], { baseEnv, env, timeoutMs: 60_000 });
    throw failure('vm/lab.sh up', up);
  }
  const envRun = await run('sh', [LAB_SH, 'env'], { baseEnv, env });
  if (envRun.code !== 0) throw failure('vm/lab.sh env', envRun);
  const eff = parseEnvLines(envRun.stdout);
  const get = (k: string): string => eff[k] ?? '';
  const hostNetns = get('LAB_HOST_NETNS') || undefined;
  const runDir = path.join(get('LAB_RUN_DIR'), get('LAB_NAME'));
  const optional: Partial<Lab> = {};
  if (get('LAB_HOST_ADDR')) optional.hostAddr = noLen(get('LAB_HOST_ADDR'));
  if (get('LAB_HOSTB') === '1') {
    optional.hostbNetns = get('LAB_HOSTB_NETNS');
    optional.hostbIf = get('LAB_HOSTB_IF');
    if (get('LAB_HOSTB_ADDR')) optional.hostbAddr = noLen(get('LAB_HOSTB_ADDR'));
  }
  const dnsServer = get('LAB_DNS');
  if (dnsServer === 'bind' || dnsServer === 'knot') {
    optional.dnsServer = dnsServer;
    optional.dnsNetns = get('LAB_DNS_NETNS');
    optional.dnsAddr = noLen(get('LAB_DNS_ADDR'));
    optional.dnsPort = Number(get('LAB_DNS_PORT'));
    optional.dnsZone = get('LAB_DNS_ZONE');
    optional.dnsReverseZone = get('LAB_DNS_REVERSE_ZONE');
    optional.dnsKeyFile = path.join(runDir, 'tsig.key');
  }
  return {
    ...optional,
    name: get('LAB_NAME'),
    hostIf: get('LAB_HOST_IF'),
    hostNetns,
    hostNetnsPath: hostNetns ? `/run/netns/${hostNetns}` : undefined,
    routerNetns: get('LAB_ROUTER_NETNS'),
    routerIf: get('LAB_ROUTER_IF'),
    peerNetns: get('LAB_PEER_NETNS'),
    peerIf: get('LAB_PEER_IF'),
    lanNetns: get('LAB_LAN_NETNS'),
    bridge: 'br0',
    runDir,
    config: labConfigFromEnv(eff),
    env: Object.freeze(eff),
    upOutput: up.stdout,
    async down(): Promise<RunResult> {
      const r = await run('sh', [LAB_SH, 'down'], { baseEnv, env, timeoutMs: 60_000 });
      if (r.code !== 0) throw failure('vm/lab.sh down', r);
      return r;
    },
    status(): Promise<RunResult> {
      return run('sh', [LAB_SH, 'status'], { baseEnv, env });
    },
  };
}

// ---------------------------------------------------------------- capture

export interface CaptureResult {
  /** tcpdump's own count ("N packets captured"), if it printed one. */
  packets: number | undefined;
  code: number;
  stderr: string;
}

export interface Capture {
  file: string;
  pid: number | undefined;
  /** SIGINT tcpdump and wait until it has flushed and exited. Idempotent. */
  stop(): Promise<CaptureResult>;
}

/**
 * Capture ICMPv6 on the lab bridge (inside the lan netns) into a pcap file.
 * Resolves once tcpdump is really capturing ("listening on" on stderr).
 */
export function capture(lab: Pick<Lab, 'lanNetns' | 'bridge'>, file: string, filter = 'icmp6'): Promise<Capture> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', lab.lanNetns, 'tcpdump', '-Z', 'root', '-n', '--immediate-mode', '-i', lab.bridge, '-w', file, '-U', filter], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    let ready = false;
    let exited: CaptureResult | undefined;
    const exitWaiters: ((r: CaptureResult) => void)[] = [];
    const timer = setTimeout(() => {
      if (!ready) {
        child.kill('SIGKILL');
        reject(new Error(`tcpdump did not start capturing within 5 s:\n${stderr}`));
      }
    }, 5000);
    child.stderr.setEncoding('utf8').on('data', (s: string) => {
      stderr += s;
      if (!ready && /listening on/.test(stderr)) {
        ready = true;
        clearTimeout(timer);
        resolve({ file, pid: child.pid, stop });
      }
    });
    child.on('error', (e) => {
      clearTimeout(timer);
      if (!ready) reject(e);
    });
    child.on('close', (code, signal) => {
      const m = /(\d+) packets? captured/.exec(stderr);
      exited = { packets: m ? Number(m[1]) : undefined, code: code ?? (signal ? 128 + (SIGNUMS[signal] ?? 0) : -1), stderr };
      clearTimeout(timer);
      if (!ready) reject(new Error(`tcpdump exited before capturing (code ${String(code)}):\n${stderr}`));
      for (const w of exitWaiters.splice(0)) w(exited);
    });
    function stop(): Promise<CaptureResult> {
      if (exited) return Promise.resolve(exited);
      return new Promise((res) => {
        exitWaiters.push(res);
        child.kill('SIGINT');
        setTimeout(() => {
          if (!exited) child.kill('SIGKILL');
        }, 5000).unref();
      });
    }
  });
}

// ---------------------------------------------------------------- tshark

const TSHARK_SEVERITY_WARNING = 0x600000; // _ws.expert.severity: Warning (Error is 0x800000)

/** Display filter: ICMPv6 packets that are malformed, have a bad checksum, or carry an expert warning/error. */
export const TSHARK_PROBLEM_FILTER =
  `(icmpv6 || ipv6.nxt == 58) && (_ws.malformed || icmpv6.checksum.status == 0 || _ws.expert.severity >= ${TSHARK_SEVERITY_WARNING})`;

async function tsharkFields(file: string, filter: string, fields: readonly string[]): Promise<string[][]> {
  const args = ['-n', '-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', '-E', 'quote=n'];
  for (const f of fields) args.push('-e', f);
  const r = await run('tshark', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw failure(`tshark -r ${file}`, r);
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

/**
 * One line per ICMPv6 packet in the pcap that tshark 4.0 finds malformed, with
 * a bad checksum, or with an expert warning/error. Empty array = all clean.
 * A capture file tshark cannot read completely is reported as a problem too.
 */
export async function tsharkProblems(file: string): Promise<string[]> {
  let rows: string[][];
  try {
    rows = await tsharkFields(file, TSHARK_PROBLEM_FILTER, [
      'frame.number',
      'ipv6.src',
      'ipv6.dst',
      'icmpv6.type',
      'icmpv6.code',
      'icmpv6.checksum.status',
      '_ws.expert.severity',
      '_ws.expert.message',
    ]);
  } catch (e) {
    return [`capture file ${file}: ${e instanceof Error ? e.message : String(e)}`];
  }
  return rows.map((c) => {
    const [frame = '?', src = '?', dst = '?', type = '?', code = '?', csum = '', , msg = ''] = c;
    const first = (s: string): string => s.split(',')[0] ?? s;
    const csumText = csum.split(',').includes('0') ? ' bad-checksum' : '';
    return `frame ${frame}: ${first(src)} -> ${first(dst)} icmpv6 type ${first(type)} code ${first(code)}${csumText}: ${msg || 'malformed'}`;
  });
}

export interface Icmp6Packet {
  frame: number;
  /** Seconds since the first packet of the capture. */
  time: number;
  ethSrc: string;
  ethDst: string;
  src: string;
  dst: string;
  hopLimit: number;
  type: number;
  code: number;
  /** NS/NA target address, if any. */
  target: string | undefined;
  /** ND option types present, in order. */
  options: number[];
}

/** Per ICMPv6 packet of the pcap: who sent what to whom (outer headers). */
export async function tsharkIcmp6Summary(file: string): Promise<Icmp6Packet[]> {
  const rows = await tsharkFields(file, 'icmpv6', [
    'frame.number',
    'frame.time_relative',
    'eth.src',
    'eth.dst',
    'ipv6.src',
    'ipv6.dst',
    'ipv6.hlim',
    'icmpv6.type',
    'icmpv6.code',
    'icmpv6.nd.ns.target_address',
    'icmpv6.nd.na.target_address',
    'icmpv6.opt.type',
  ]);
  const first = (s: string | undefined): string => (s ?? '').split(',')[0] ?? '';
  return rows.map((c) => ({
    frame: Number(first(c[0])),
    time: Number(first(c[1])),
    ethSrc: first(c[2]),
    ethDst: first(c[3]),
    src: first(c[4]),
    dst: first(c[5]),
    hopLimit: Number(first(c[6])),
    type: Number(first(c[7])),
    code: Number(first(c[8])),
    target: first(c[9]) || first(c[10]) || undefined,
    options: (c[11] ?? '')
      .split(',')
      .filter((s) => s.length > 0)
      .map(Number),
  }));
}

// ---------------------------------------------------------------- rdisc6

export interface Rdisc6Prefix {
  prefix: string; // "2001:db8:1::/64"
  onLink: boolean;
  autonomous: boolean;
  validLifetime: number; // INFINITE for "infinite"
  preferredLifetime: number;
}

export interface Rdisc6Route {
  prefix: string; // "2001:db8:ff::/48"
  preference: string; // low | medium | high | "medium (invalid)"
  lifetime: number;
}

export interface Rdisc6Rdnss {
  servers: string[];
  lifetime: number;
}

export interface Rdisc6Dnssl {
  domains: string[];
  lifetime: number;
}

/** One Router Advertisement as printed by rdisc6 (ndisc6 1.0.5). */
export interface Rdisc6Ra {
  hopLimit: number; // 0 = "undefined"
  managed: boolean; // "Stateful address conf."
  other: boolean; // "Stateful other conf."
  homeAgent: boolean;
  routerPreference: string;
  ndProxy: boolean;
  routerLifetime: number; // seconds
  reachableTimeMs: number; // 0 = "unspecified"
  retransTimeMs: number; // 0 = "unspecified"
  prefixes: Rdisc6Prefix[];
  mtu: number | undefined;
  mtuValid: boolean | undefined;
  routes: Rdisc6Route[];
  rdnss: Rdisc6Rdnss[];
  dnssl: Rdisc6Dnssl[];
  /** "02:5c:..." in lower case, as ip(8) prints MACs. */
  sourceLinkLayer: string | undefined;
  /** The router's (link-local) address. */
  from: string;
  /** Lines the parser did not understand (none expected). */
  unparsed: string[];
}

/** Value of a rdisc6 numeric field: the hex in "(0x...)" is exact; "infinite"/"unspecified"/"undefined" are covered by it. */
function rdiscNumber(v: string, what: string): number {
  const hex = /\(\s*0x([0-9a-fA-F]+)\)/.exec(v);
  if (hex?.[1]) return parseInt(hex[1], 16);
  const dec = /^\s*(\d+)/.exec(v);
  if (dec?.[1]) return Number(dec[1]);
  throw new Error(`rdisc6: cannot read ${what} from '${v}'`);
}

function yesNo(v: string, what: string): boolean {
  const s = v.trim();
  if (s === 'Yes') return true;
  if (s === 'No') return false;
  throw new Error(`rdisc6: ${what}: expected Yes/No, got '${s}'`);
}

/** Parse the text of `rdisc6 -1` (the first RA in the text). */
export function parseRdisc6(text: string): Rdisc6Ra {
  const ra: Partial<Rdisc6Ra> & Pick<Rdisc6Ra, 'prefixes' | 'routes' | 'rdnss' | 'dnssl' | 'unparsed'> = {
    prefixes: [],
    routes: [],
    rdnss: [],
    dnssl: [],
    unparsed: [],
    mtu: undefined,
    mtuValid: undefined,
    sourceLinkLayer: undefined,
  };
  let prefix: Rdisc6Prefix | undefined;
  let route: Rdisc6Route | undefined;
  let servers: string[] = [];
  let domains: string[] = [];
  let started = false;
  for (const raw of text.split('\n')) {
    const line = raw.replace(/\s+$/, '');
    if (line === '' || line.startsWith('Soliciting ')) continue;
    const from = /^ from (\S+)/.exec(line);
    if (from?.[1]) {
      ra.from = from[1];
      break; // end of the first advertisement
    }
    const m = /^(\s*)([^:]+?)\s*:\s?(.*)$/.exec(line);
    if (!m) {
      ra.unparsed.push(line);
      continue;
    }
    const key = m[2] ?? '';
    const val = m[3] ?? '';
    started = true;
    switch (key) {
      case 'Hop limit':
        ra.hopLimit = rdiscNumber(val, key);
        break;
      case 'Stateful address conf.':
        ra.managed = yesNo(val, key);
        break;
      case 'Stateful other conf.':
        ra.other = yesNo(val, key);
        break;
      case 'Mobile home agent':
        ra.homeAgent = yesNo(val, key);
        break;
      case 'Router preference':
        ra.routerPreference = val.trim();
        break;
      case 'Neighbor discovery proxy':
        ra.ndProxy = yesNo(val, key);
        break;
      case 'Router lifetime':
        ra.routerLifetime = rdiscNumber(val, key);
        break;
      case 'Reachable time':
        ra.reachableTimeMs = rdiscNumber(val, key);
        break;
      case 'Retransmit time':
        ra.retransTimeMs = rdiscNumber(val, key);
        break;
      case 'Prefix':
        prefix = { prefix: val.trim(), onLink: false, autonomous: false, validLifetime: 0, preferredLifetime: 0 };
        ra.prefixes.push(prefix);
        break;
      case 'On-link':
        if (!prefix) throw new Error('rdisc6: On-link outside a prefix');
        prefix.onLink = yesNo(val, key);
        break;
      case 'Autonomous address conf.':
        if (!prefix) throw new Error('rdisc6: Autonomous outside a prefix');
        prefix.autonomous = yesNo(val, key);
        break;
      case 'Valid time':
        if (!prefix) throw new Error('rdisc6: Valid time outside a prefix');
        prefix.validLifetime = rdiscNumber(val, key);
        break;
      case 'Pref. time':
        if (!prefix) throw new Error('rdisc6: Pref. time outside a prefix');
        prefix.preferredLifetime = rdiscNumber(val, key);
        break;
      case 'Route':
        route = { prefix: val.trim(), preference: '', lifetime: 0 };
        ra.routes.push(route);
        break;
      case 'Route preference':
        if (!route) throw new Error('rdisc6: Route preference outside a route');
        route.preference = val.trim();
        break;
      case 'Route lifetime':
        if (!route) throw new Error('rdisc6: Route lifetime outside a route');
        route.lifetime = rdiscNumber(val, key);
        break;
      case 'Recursive DNS server':
        servers.push(val.trim());
        break;
      case 'DNS server lifetime':
      case 'DNS servers lifetime':
        ra.rdnss.push({ servers, lifetime: rdiscNumber(val, key) });
        servers = [];
        break;
      case 'DNS search list':
        domains.push(...words(val));
        break;
      case 'DNS search list lifetime':
        ra.dnssl.push({ domains, lifetime: rdiscNumber(val, key) });
        domains = [];
        break;
      case 'MTU': {
        const mm = /^\s*(\d+)\s+bytes\s+\((\w+)\)/.exec(val);
        if (!mm?.[1]) throw new Error(`rdisc6: cannot read MTU from '${val}'`);
        ra.mtu = Number(mm[1]);
        ra.mtuValid = mm[2] === 'valid';
        break;
      }
      case 'Source link-layer address':
        ra.sourceLinkLayer = val.trim().toLowerCase();
        break;
      default:
        ra.unparsed.push(line);
    }
  }
  if (!started || ra.from === undefined) throw new Error(`rdisc6: no complete advertisement in output:\n${text}`);
  if (servers.length) ra.rdnss.push({ servers, lifetime: NaN });
  if (domains.length) ra.dnssl.push({ domains, lifetime: NaN });
  const need = <K extends keyof Rdisc6Ra>(k: K): NonNullable<Rdisc6Ra[K]> => {
    const v = ra[k];
    if (v === undefined || v === null) throw new Error(`rdisc6: output lacks ${String(k)}:\n${text}`);
    return v as NonNullable<Rdisc6Ra[K]>;
  };
  return {
    hopLimit: need('hopLimit'),
    managed: need('managed'),
    other: need('other'),
    homeAgent: need('homeAgent'),
    routerPreference: need('routerPreference'),
    ndProxy: need('ndProxy'),
    routerLifetime: need('routerLifetime'),
    reachableTimeMs: need('reachableTimeMs'),
    retransTimeMs: need('retransTimeMs'),
    prefixes: ra.prefixes,
    mtu: ra.mtu,
    mtuValid: ra.mtuValid,
    routes: ra.routes,
    rdnss: ra.rdnss,
    dnssl: ra.dnssl,
    sourceLinkLayer: ra.sourceLinkLayer,
    from: need('from'),
    unparsed: ra.unparsed,
  };
}

export interface Rdisc6Options {
  /** How long to wait for each answer (rdisc6 -w, ms). Default 1000. */
  timeoutMs?: number;
  /** Solicitations to send (rdisc6 -r). Default 3. */
  retries?: number;
}

/**
 * Solicit the lab router from the host NIC with rdisc6 (an independent RS/RA
 * implementation) and parse the first answer. Rejects if none came.
 */
export async function rdisc6(lab: Pick<Lab, 'hostIf' | 'hostNetns'>, timeoutMs = 1000, opts: Omit<Rdisc6Options, 'timeoutMs'> = {}): Promise<Rdisc6Ra & { raw: string }> {
  const retries = opts.retries ?? 3;
  const r = await run('rdisc6', ['-1', '-n', '-r', String(retries), '-w', String(timeoutMs), lab.hostIf], {
    netns: lab.hostNetns,
    timeoutMs: timeoutMs * retries + 10_000,
  });
  if (r.code !== 0) throw failure(`rdisc6 on ${lab.hostIf}`, r);
  return { ...parseRdisc6(r.stdout), raw: r.stdout };
}
