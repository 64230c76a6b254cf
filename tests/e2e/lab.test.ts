// e2e: the netns lab itself (vm/lab.sh + vm/lab/lab.ts). Needs root and
// radvd, ndisc6 (rdisc6), tcpdump, tshark, iproute2.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t, { type Test } from 'tap';
import { run } from '../../vm/lab/run';
import { INFINITE, LAB_SH, type Lab, labUp } from '../../vm/lab/lab';
import { capture } from '../../vm/lab/capture';
import { tsharkIcmp6Summary, tsharkProblems } from '../../vm/lab/tshark';
import { type Rdisc6Ra, parseRdisc6, rdisc6 } from '../../vm/lab/rdisc6';

const NAME = `lt${process.pid % 100000}`; // <= 10 chars: "<name>-nic0" fits IFNAMSIZ
const isRoot = process.getuid?.() === 0;

interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  tentative?: boolean;
  dadfailed?: boolean;
}
interface IpLink {
  ifname: string;
  address?: string;
  ifalias?: string;
  master?: string;
  operstate?: string;
  addr_info?: IpAddrInfo[];
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}
interface IpRoute {
  dst: string;
  dev?: string;
  gateway?: string;
}

async function ipJson<T>(args: string[]): Promise<T[]> {
  const r = await run('ip', ['-j', ...args]);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  const text = r.stdout.trim();
  return text === '' ? [] : (JSON.parse(text) as T[]);
}

async function netnsNames(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((s) => s.length > 0);
}

async function sysctl(netns: string | undefined, key: string): Promise<string> {
  const r = await run('cat', [`/proc/sys/${key}`], { netns });
  return r.stdout.trim();
}

function ppid(pid: number): number {
  try {
    // "pid (comm) state ppid ..."; comm may hold spaces, so cut after the last ')'
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return -1;
  }
}

/** radvd processes started for this lab (their command line names its run dir). */
function radvdPidsFor(runDir: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim() !== 'radvd') continue;
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.startsWith(runDir + '/'))) out.push(Number(d));
    } catch {
      // process went away
    }
  }
  return out;
}

/** Rewrite frame `frame` (1-based) of a classic little-endian Ethernet pcap. */
function mutatePcap(src: string, dst: string, frame: number, mutate: (pkt: Buffer) => void): void {
  const buf = Buffer.from(fs.readFileSync(src));
  const magic = buf.readUInt32LE(0);
  if ((magic !== 0xa1b2c3d4 && magic !== 0xa1b23c4d) || buf.readUInt32LE(20) !== 1) throw new Error(`${src}: not a LE Ethernet pcap`);
  let off = 24;
  for (let n = 1; off + 16 <= buf.length; n++) {
    const len = buf.readUInt32LE(off + 8);
    if (n === frame) {
      mutate(buf.subarray(off + 16, off + 16 + len));
      fs.writeFileSync(dst, buf);
      return;
    }
    off += 16 + len;
  }
  throw new Error(`${src}: no frame ${frame}`);
}

/** Recompute the ICMPv6 checksum of an Ethernet/IPv6/ICMPv6 frame without extension headers. */
function fixIcmp6Checksum(pkt: Buffer): void {
  const ip = pkt.subarray(14, 54);
  const icmp = pkt.subarray(54, 54 + ip.readUInt16BE(4));
  icmp.writeUInt16BE(0, 2);
  const pseudo = Buffer.alloc(40);
  ip.copy(pseudo, 0, 8, 40);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo.writeUInt32BE(58, 36);
  const all = Buffer.concat([pseudo, icmp, Buffer.alloc(icmp.length % 2)]);
  let sum = 0;
  for (let i = 0; i < all.length; i += 2) sum += all.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  icmp.writeUInt16BE(~sum & 0xffff, 2);
}

// What `rdisc6 -1 -n` printed on this machine (ndisc6 1.0.5) for a lab with
// LAB_VALID_LIFETIME=infinity LAB_PREFERRED_LIFETIME=infinity LAB_CUR_HOP_LIMIT=0
// LAB_REACHABLE_MS=0 LAB_RETRANS_MS=0 LAB_MANAGED=on LAB_OTHER=off
// LAB_ROUTER_PREFERENCE=low LAB_ROUTER_LIFETIME=0 LAB_MTU=0 (no MTU option),
// three RDNSS servers, two DNSSL domains, three routes.
const RDISC6_EXOTIC = `Soliciting ff02::2 (ff02::2) on oshx-nic0...

Hop limit                 :    undefined (      0x00)
Stateful address conf.    :          Yes
Stateful other conf.      :           No
Mobile home agent         :           No
Router preference         :          low
Neighbor discovery proxy  :           No
Router lifetime           :            0 (0x00000000) seconds
Reachable time            :  unspecified (0x00000000)
Retransmit time           :  unspecified (0x00000000)
 Prefix                   : 2001:db8:2::/64
  On-link                 :          Yes
  Autonomous address conf.:          Yes
  Valid time              :     infinite (0xffffffff)
  Pref. time              :     infinite (0xffffffff)
 Route                    : 2001:db8:ff::/48
  Route preference        :          low
  Route lifetime          :     infinite (0xffffffff)
 Route                    : fd00:1::/64
  Route preference        :          low
  Route lifetime          :     infinite (0xffffffff)
 Route                    : ::/0
  Route preference        :          low
  Route lifetime          :     infinite (0xffffffff)
 Recursive DNS server     : 2001:db8:1::53
 Recursive DNS server     : 2001:db8:1::54
 Recursive DNS server     : fd00::35
  DNS servers lifetime    :     infinite (0xffffffff)
 DNS search list          : a.example b.example 
  DNS search list lifetime:            8 (0x00000008) seconds
 Source link-layer address: 02:5C:C0:B9:9A:01
 from fe80::5c:c0ff:feb9:9a01
`;

t.test('parseRdisc6: infinite, unspecified, undefined, several options, no MTU', async (t) => {
  t.strictSame(parseRdisc6(RDISC6_EXOTIC), {
    hopLimit: 0,
    managed: true,
    other: false,
    homeAgent: false,
    routerPreference: 'low',
    ndProxy: false,
    routerLifetime: 0,
    reachableTimeMs: 0,
    retransTimeMs: 0,
    prefixes: [{ prefix: '2001:db8:2::/64', onLink: true, autonomous: true, validLifetime: INFINITE, preferredLifetime: INFINITE }],
    mtu: undefined,
    mtuValid: undefined,
    routes: [
      { prefix: '2001:db8:ff::/48', preference: 'low', lifetime: INFINITE },
      { prefix: 'fd00:1::/64', preference: 'low', lifetime: INFINITE },
      { prefix: '::/0', preference: 'low', lifetime: INFINITE },
    ],
    rdnss: [{ servers: ['2001:db8:1::53', '2001:db8:1::54', 'fd00::35'], lifetime: INFINITE }],
    dnssl: [{ domains: ['a.example', 'b.example'], lifetime: 8 }],
    sourceLinkLayer: '02:5c:c0:b9:9a:01',
    from: 'fe80::5c:c0ff:feb9:9a01',
    unparsed: [],
  });
  t.throws(() => parseRdisc6('Soliciting ff02::2 (ff02::2) on x...\n'), /no complete advertisement/);
});

t.test('netns lab', { skip: isRoot ? false : 'needs root' }, async (t) => {
  // Clean slate if an earlier run with the same name died half-way.
  await run('sh', [LAB_SH, 'down'], { env: { LAB_NAME: NAME } });
  const started = Date.now();
  const lab: Lab = await labUp({ LAB_NAME: NAME });
  const upMs = Date.now() - started;
  let downDone = false;
  t.teardown(async () => {
    if (!downDone) await run('sh', [LAB_SH, 'down'], { env: { LAB_NAME: NAME } });
  });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-lab-test-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

  t.test('names, defaults and up output', async (t) => {
    t.ok(upMs < 15_000, `up took ${upMs} ms`);
    t.equal(lab.name, NAME);
    t.equal(lab.hostIf, `${NAME}-nic0`);
    t.equal(lab.hostNetns, undefined, 'host is the root netns');
    t.equal(lab.hostNetnsPath, undefined);
    t.equal(lab.lanNetns, `${NAME}-lan`);
    t.equal(lab.routerNetns, `${NAME}-router`);
    t.equal(lab.peerNetns, `${NAME}-peer`);
    t.equal(lab.routerIf, 'r0');
    t.equal(lab.peerIf, 'p0');
    t.match(lab.config, {
      prefix: '2001:db8:1::/64',
      validLifetime: 86400,
      preferredLifetime: 14400,
      mtu: 1400,
      rdnss: ['2001:db8:1::53'],
      dnssl: ['lab.example'],
      routes: ['2001:db8:ff::/48'],
      routePreference: 'high',
      routeLifetime: 1800,
      routerLifetime: 1800,
      curHopLimit: 64,
      reachableMs: 30000,
      retransMs: 1000,
      managed: false,
      other: true,
      routerPreference: 'medium',
      raInterval: 30,
      raMinInterval: 10,
      routerAddr: '2001:db8:1::1',
      peerAddr: '2001:db8:1::100',
    });
    const lines = lab.upOutput.trim().split('\n');
    t.strictSame(
      lines.map((l) => l.split(':')[0]),
      ['lan', 'router', 'host', 'peer'],
      'one line per role, in order',
    );
  });

  t.test('namespaces and links exist', async (t) => {
    const ns = await netnsNames();
    for (const n of [lab.lanNetns, lab.routerNetns, lab.peerNetns]) t.ok(ns.includes(n), `netns ${n}`);

    const [br] = await ipJson<IpLink>(['-d', '-n', lab.lanNetns, 'link', 'show', 'dev', 'br0']);
    t.equal(br?.linkinfo?.info_kind, 'bridge');
    t.equal(br?.linkinfo?.info_data?.mcast_snooping, 0, 'multicast snooping off');
    t.equal(br?.operstate, 'UP');
    t.equal(await sysctl(lab.lanNetns, 'net/ipv6/conf/br0/disable_ipv6'), '1', 'no IPv6 on the bridge');
    const ports = await ipJson<IpLink>(['-n', lab.lanNetns, 'link', 'show', 'master', 'br0']);
    t.strictSame(ports.map((p) => p.ifname).sort(), ['lan-host', 'lan-peer', 'lan-router']);

    const [r0] = await ipJson<IpLink>(['-n', lab.routerNetns, 'addr', 'show', 'dev', 'r0']);
    t.equal(r0?.address, lab.config.routerMac);
    t.ok(r0?.addr_info?.some((a) => a.local === '2001:db8:1::1' && a.prefixlen === 64), 'router address');
    t.equal(await sysctl(lab.routerNetns, 'net/ipv6/conf/all/forwarding'), '1', 'router forwards');

    const [p0] = await ipJson<IpLink>(['-n', lab.peerNetns, 'addr', 'show', 'dev', 'p0']);
    t.ok(p0?.addr_info?.some((a) => a.local === '2001:db8:1::100' && a.prefixlen === 64 && !a.tentative), 'peer address, not tentative');
    t.equal(await sysctl(lab.peerNetns, 'net/ipv6/conf/p0/accept_ra'), '0');

    const pid = Number(fs.readFileSync(path.join(lab.runDir, 'router', 'radvd.pid'), 'utf8').trim());
    const pids = radvdPidsFor(lab.runDir);
    t.ok(pids.includes(pid), 'radvd of the pidfile runs');
    // radvd 2.19 forks a privilege-separation child: nothing else may be there
    t.strictSame(
      pids.filter((p) => p !== pid && ppid(p) !== pid),
      [],
      'one radvd (plus its privsep child)',
    );
  });

  const hostChecks = async (t: Test, when: string): Promise<void> => {
    const [nic] = await ipJson<IpLink>(['addr', 'show', 'dev', lab.hostIf]);
    t.ok(nic, `${lab.hostIf} exists in the root netns (${when})`);
    const v6 = (nic?.addr_info ?? []).filter((a) => a.family === 'inet6');
    t.ok(v6.some((a) => a.scope === 'link' && a.local.startsWith('fe80:') && !a.tentative), `link-local, not tentative (${when})`);
    t.strictSame(
      v6.filter((a) => a.scope !== 'link'),
      [],
      `no global address on the host NIC (${when})`,
    );
    t.equal(await sysctl(undefined, `net/ipv6/conf/${lab.hostIf}/accept_ra`), '0');
    t.equal(await sysctl(undefined, `net/ipv6/conf/${lab.hostIf}/autoconf`), '0');
    const defaults = await ipJson<IpRoute>(['-6', 'route', 'show', 'default']);
    t.strictSame(
      defaults.filter((r) => r.dev === lab.hostIf),
      [],
      `no default route via the host NIC (${when})`,
    );
    const routes = await ipJson<IpRoute>(['-6', 'route', 'show', 'dev', lab.hostIf]);
    t.strictSame(
      routes.map((r) => r.dst),
      ['fe80::/64'],
      `only the link-local route on the host NIC (${when})`,
    );
  };

  t.test('host NIC: link-local only, learns nothing from the lab', async (t) => {
    await hostChecks(t, 'after up');
  });

  t.test('up again is a no-op', async (t) => {
    const pidFile = path.join(lab.runDir, 'router', 'radvd.pid');
    const before = fs.readFileSync(pidFile, 'utf8');
    const again = await labUp({ LAB_NAME: NAME });
    t.match(again.upOutput, /router: up \(radvd pid \d+ already running/);
    t.equal(fs.readFileSync(pidFile, 'utf8'), before, 'same radvd');
  });

  t.test('rdisc6 sees exactly the configured RA; tshark finds the RS/RA clean', async (t) => {
    const c = lab.config;
    const pcap = path.join(tmp, 'rdisc6.pcap');
    const cap = await capture(lab, pcap);
    let ra: Rdisc6Ra & { raw: string };
    try {
      ra = await rdisc6(lab, 1000);
    } finally {
      await new Promise((r) => setTimeout(r, 200));
      const st = await cap.stop();
      t.equal(st.code, 0, 'tcpdump exited cleanly');
    }
    t.comment(ra.raw);
    const [r0] = await ipJson<IpLink>(['-n', lab.routerNetns, '-6', 'addr', 'show', 'dev', 'r0', 'scope', 'link']);
    // (ip -j prints an empty {} for each address the filter dropped)
    const routerLl = r0?.addr_info?.find((a) => a.scope === 'link')?.local;
    t.ok(routerLl, 'router link-local');
    t.strictSame(ra, {
      hopLimit: c.curHopLimit,
      managed: c.managed,
      other: c.other,
      homeAgent: false,
      routerPreference: c.routerPreference,
      ndProxy: false,
      routerLifetime: c.routerLifetime,
      reachableTimeMs: c.reachableMs,
      retransTimeMs: c.retransMs,
      prefixes: [{ prefix: c.prefix, onLink: true, autonomous: true, validLifetime: c.validLifetime, preferredLifetime: c.preferredLifetime }],
      mtu: c.mtu,
      mtuValid: true,
      routes: c.routes.map((prefix) => ({ prefix, preference: c.routePreference, lifetime: c.routeLifetime })),
      rdnss: [{ servers: c.rdnss, lifetime: c.rdnssLifetime }],
      dnssl: [{ domains: c.dnssl, lifetime: c.dnsslLifetime }],
      sourceLinkLayer: c.routerMac,
      from: routerLl,
      unparsed: [],
      raw: ra.raw,
    });

    t.strictSame(await tsharkProblems(pcap), [], 'tshark flags nothing');
    const pkts = await tsharkIcmp6Summary(pcap);
    const [nic] = await ipJson<IpLink>(['-6', 'addr', 'show', 'dev', lab.hostIf, 'scope', 'link']);
    const hostLl = nic?.addr_info?.find((a) => a.scope === 'link')?.local;
    const rs = pkts.find((p) => p.type === 133 && p.src === hostLl);
    t.ok(rs, 'rdisc6 RS seen on the bridge');
    t.match(rs, { dst: 'ff02::2', hopLimit: 255, code: 0, ethSrc: c.hostMac });
    const adv = pkts.find((p) => p.type === 134 && p.src === routerLl && p.frame > (rs?.frame ?? 0));
    t.ok(adv, 'RA answering it seen on the bridge');
    t.match(adv, { hopLimit: 255, ethSrc: c.routerMac });
    t.ok(adv?.options.includes(3) && adv.options.includes(5) && adv.options.includes(25) && adv.options.includes(31), 'PIO, MTU, RDNSS, DNSSL options');

    await hostChecks(t, 'after an RA was received');

    // tsharkProblems must flag broken packets, not just say "clean".
    if (rs && adv) {
      const badSum = path.join(tmp, 'bad-checksum.pcap');
      mutatePcap(pcap, badSum, rs.frame, (p) => (p[56] = (p[56] ?? 0) ^ 0x55));
      const p1 = await tsharkProblems(badSum);
      t.equal(p1.length, 1, 'one problem: the RS with a bad checksum');
      t.match(p1[0], new RegExp(`^frame ${rs.frame}: .* type 133 .*bad-checksum.*Bad checksum`));

      const malformed = path.join(tmp, 'malformed.pcap');
      mutatePcap(pcap, malformed, adv.frame, (p) => {
        p[54 + 16 + 1] = 200; // first RA option: length 200 * 8 bytes, past the end
        fixIcmp6Checksum(p);
      });
      const p2 = await tsharkProblems(malformed);
      t.equal(p2.length, 1, 'one problem: the truncated RA option');
      t.match(p2[0], new RegExp(`^frame ${adv.frame}: .* type 134 code 0: .*Malformed`));
      t.notMatch(p2[0], /bad-checksum/, 'checksum was fixed up, only the option is broken');
    }
  });

  t.test('down twice leaves nothing', async (t) => {
    const first = await lab.down();
    t.strictSame(
      first.stdout.trim().split('\n').map((l) => l.split(':')[0]),
      ['peer', 'host', 'router', 'lan'],
      'down reports each role, in reverse order',
    );
    const second = await lab.down();
    downDone = true;
    t.equal(second.code, 0);
    t.equal(second.stdout, '', 'second down prints nothing');
    t.equal(second.stderr, '', 'second down complains about nothing');

    const ns = await netnsNames();
    t.strictSame(
      ns.filter((n) => n.startsWith(`${NAME}-`)),
      [],
      'no netns left',
    );
    const link = await run('ip', ['link', 'show', 'dev', lab.hostIf]);
    t.not(link.code, 0, 'host veth gone');
    const aliases = await ipJson<IpLink>(['link', 'show']);
    t.strictSame(
      aliases.filter((l) => (l.ifalias ?? '').startsWith(`oci-slaac-hook-lab:${NAME}:`)),
      [],
      'no lab interface left in the root netns',
    );
    t.strictSame(radvdPidsFor(lab.runDir), [], 'no radvd left');
    t.notOk(fs.existsSync(lab.runDir), 'run dir removed');
    const st = await lab.status();
    t.equal(st.code, 3, 'status: nothing exists');
    t.match(st.stdout, /lan: absent\nrouter: absent\nhost: absent\npeer: absent/);
  });
});
