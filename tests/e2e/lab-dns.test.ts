// e2e: the lab's DNS role (vm/roles/dns.sh) with BIND and Knot, the host's
// static address (LAB_HOST_ADDR) and the second host (LAB_HOSTB), plus the
// helpers of vm/lab/dns.ts. Needs root, radvd, iproute2, bind9 (named),
// knot (knotd), bind9-dnsutils (dig, nsupdate).
//
// Each server gets a prefix of its own (2001:db8:51::/64, 2001:db8:52::/64),
// not the lab default: the host NIC sits in the root netns with a global
// address, and another lab in the root netns with the default prefix (another
// test file running at the same time) must not share its on-link route.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { dig, ip6Nibbles, nsupdate, reverseName } from '../../vm/lab/dns';
import { run } from '../../vm/lab/run';
import { LAB_SH, type Lab, labUp } from '../../vm/lab/lab';

const isRoot = process.getuid?.() === 0;

interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  tentative?: boolean;
  nodad?: boolean;
}
interface IpLink {
  ifname: string;
  addr_info?: IpAddrInfo[];
}
interface IpRoute {
  dst: string;
  dev?: string;
  gateway?: string;
}

async function ipJson<T>(args: string[], netns?: string): Promise<T[]> {
  const r = await run('ip', ['-j', ...args], { netns });
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

/** Live (not zombie) named/knotd processes whose command line names a file under dir. */
function serverPidsFor(dir: string): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const comm = fs.readFileSync(`/proc/${d}/comm`, 'utf8').trim();
      if (comm !== 'named' && comm !== 'knotd') continue;
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (/^[ZX]/.test(stat.slice(stat.lastIndexOf(')') + 2))) continue;
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.startsWith(dir + '/'))) out.push(Number(d));
    } catch {
      // process went away
    }
  }
  return out;
}

function missing(cmds: string[]): string | false {
  const r = spawnSync('sh', ['-c', 'for c; do command -v "$c" >/dev/null || echo "$c"; done', 'sh', ...cmds], { encoding: 'utf8' });
  const gone = r.stdout.split('\n').filter((l) => l.length > 0);
  return gone.length > 0 ? `not installed: ${gone.join(' ')}` : false;
}

t.test('reverseName and ip6Nibbles', async (t) => {
  t.equal(reverseName('2001:db8:1::abcd'), 'd.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  t.equal(reverseName('2001:DB8::1'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  t.equal(reverseName('::'), Array(32).fill('0').join('.') + '.ip6.arpa');
  t.equal(reverseName('fe80::1%eth0'), '1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.e.f.ip6.arpa');
  t.equal(ip6Nibbles('::ffff:192.0.2.1'), '00000000000000000000ffffc0000201');
  t.equal(ip6Nibbles('2001:db8:1:2:3:4:5:6'), '20010db8000100020003000400050006');
  t.equal(ip6Nibbles('1::'), '00010000000000000000000000000000');
  t.throws(() => reverseName('2001:db8::1::2'), /not an IPv6 address/);
  t.throws(() => reverseName('192.0.2.1'), /not an IPv6 address/);
  t.throws(() => reverseName('2001:db8:1::/64'), /not an IPv6 address/);
});

t.test('lab.sh env: DNS and second-host defaults', { skip: isRoot ? false : 'needs root' }, async (t) => {
  const base: Record<string, string | undefined> = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LAB_')) base[k] = v;
  const off = await run('sh', [LAB_SH, 'env'], { baseEnv: base, env: { LAB_NAME: 'envchk' } });
  t.equal(off.code, 0);
  t.match(off.stdout, /^LAB_HOSTB=$/m);
  t.match(off.stdout, /^LAB_DNS=$/m);
  t.match(off.stdout, /^LAB_HOST_ADDR=$/m, 'no host address by default');
  t.notMatch(off.stdout, /^LAB_DNS_ADDR=/m, 'no DNS settings without LAB_DNS');
  t.notMatch(off.stdout, /^LAB_HOSTB_NETNS=/m, 'no host B settings without LAB_HOSTB');
  const on = await run('sh', [LAB_SH, 'env'], { baseEnv: base, env: { LAB_NAME: 'envchk', LAB_DNS: 'knot', LAB_HOSTB: '1' } });
  t.equal(on.code, 0);
  for (const line of [
    'LAB_DNS=knot',
    'LAB_DNS_NETNS=envchk-dns',
    'LAB_DNS_IF=d0',
    'LAB_DNS_ADDR=2001:db8:1::53',
    'LAB_DNS_PORT=53',
    'LAB_DNS_ZONE=lab.example',
    'LAB_DNS_REVERSE_ZONE=0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa',
    'LAB_DNS_KEY_NAME=oci-slaac-hook',
    'LAB_HOSTB=1',
    'LAB_HOSTB_NETNS=envchk-hostb',
    'LAB_HOSTB_IF=nic0',
    'LAB_HOSTB_ADDR=2001:db8:1::3/64',
  ]) {
    t.ok(on.stdout.split('\n').includes(line), line);
  }
  const macs = ['LAB_ROUTER_MAC', 'LAB_HOST_MAC', 'LAB_HOSTB_MAC', 'LAB_PEER_MAC', 'LAB_DNS_MAC'].map((k) => new RegExp(`^${k}=(.*)$`, 'm').exec(on.stdout)?.[1]);
  t.equal(new Set(macs).size, 5, `distinct MACs: ${macs.join(' ')}`);
  const rev = await run('sh', [LAB_SH, 'env'], { baseEnv: base, env: { LAB_NAME: 'envchk', LAB_DNS: 'bind', LAB_PREFIX: '2001:db8:abc::/48' } });
  t.match(rev.stdout, /^LAB_DNS_REVERSE_ZONE=c\.b\.a\.0\.8\.b\.d\.0\.1\.0\.0\.2\.ip6\.arpa$/m, 'reverse zone of a /48');
  const bad = await run('sh', [LAB_SH, 'up'], { baseEnv: base, env: { LAB_NAME: 'envchk', LAB_DNS: 'powerdns' } });
  t.not(bad.code, 0);
  t.match(bad.stderr, /LAB_DNS must be empty, bind or knot/);
});

for (const server of ['bind', 'knot'] as const) {
  const daemon = server === 'bind' ? 'named' : 'knotd';
  t.test(`DNS lab with ${server}`, { skip: isRoot ? missing([daemon, 'dig', 'nsupdate']) : 'needs root' }, async (t) => {
    const NAME = `ld${server[0]}${process.pid % 100000}`; // <= 10 chars
    const p = server === 'bind' ? '2001:db8:51::' : '2001:db8:52::';
    const reverseZone = server === 'bind' ? '0.0.0.0.1.5.0.0.8.b.d.0.1.0.0.2.ip6.arpa' : '0.0.0.0.2.5.0.0.8.b.d.0.1.0.0.2.ip6.arpa';
    const env: Record<string, string> = {
      LAB_NAME: NAME,
      LAB_DNS: server,
      LAB_HOSTB: '1',
      LAB_PREFIX: `${p}/64`,
      LAB_ROUTER_ADDR: `${p}1`,
      LAB_PEER_ADDR: `${p}100`,
      LAB_RDNSS: `${p}53`,
      LAB_DNS_ADDR: `${p}53`,
      LAB_HOST_ADDR: `${p}2/64`,
      LAB_HOSTB_ADDR: `${p}3/64`,
    };
    await run('sh', [LAB_SH, 'down'], { env: { LAB_NAME: NAME } });
    const started = Date.now();
    const lab: Lab = await labUp(env);
    const upMs = Date.now() - started;
    t.comment(`${server}: vm/lab.sh up took ${upMs} ms`);
    let downDone = false;
    t.teardown(async () => {
      if (!downDone) await run('sh', [LAB_SH, 'down'], { env: { LAB_NAME: NAME } });
    });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-lab-dns-'));
    t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
    const zone = 'lab.example';

    t.test('Lab fields, files and up output', async (t) => {
      t.ok(upMs < 15_000, `up took ${upMs} ms`);
      t.match(lab, {
        dnsServer: server,
        dnsNetns: `${NAME}-dns`,
        dnsAddr: `${p}53`,
        dnsPort: 53,
        dnsZone: zone,
        dnsReverseZone: reverseZone,
        dnsKeyFile: path.join(lab.runDir, 'tsig.key'),
        hostAddr: `${p}2`,
        hostbNetns: `${NAME}-hostb`,
        hostbIf: 'nic0',
        hostbAddr: `${p}3`,
      });
      t.strictSame(
        lab.upOutput.trim().split('\n').map((l) => l.split(':')[0]),
        ['lan', 'router', 'host', 'hostb', 'peer', 'dns'],
        'one line per role, in order',
      );
      const key = fs.readFileSync(lab.dnsKeyFile ?? '', 'utf8');
      t.match(key, /^key "oci-slaac-hook" \{\n\talgorithm hmac-sha256;\n\tsecret "[A-Za-z0-9+/]{43}=";\n\};\n$/, 'BIND-style hmac-sha256 key, 32 bytes');
      const pids = serverPidsFor(path.join(lab.runDir, 'dns'));
      t.equal(pids.length, 1, `one ${daemon} running on files of the run dir`);
      const pidFile = path.join(lab.runDir, 'dns', `${daemon}.pid`);
      t.equal(Number(fs.readFileSync(pidFile, 'utf8').trim()), pids[0], 'pidfile names it');
      const conf = fs.readFileSync(path.join(lab.runDir, 'dns', server === 'bind' ? 'named.conf' : 'knot.conf'), 'utf8');
      t.notMatch(conf, /\/etc\/bind|\/var\/lib\/knot|\/var\/cache\/bind/, 'nothing outside the run dir');
    });

    t.test('SOA, NS and the server\'s own records', async (t) => {
      for (const z of [zone, reverseZone]) {
        const soa = await dig(lab, z, 'SOA');
        t.equal(soa.length, 1, `SOA of ${z}`);
        t.match(soa[0], /^ns1\.lab\.example\. hostmaster\.lab\.example\. \d+ \d+ \d+ \d+ \d+$/);
        t.strictSame(await dig(lab, z, 'NS'), ['ns1.lab.example.'], `NS of ${z}`);
      }
      t.strictSame(await dig(lab, `ns1.${zone}`, 'AAAA'), [`${p}53`]);
      t.strictSame(await dig(lab, reverseName(`${p}53`), 'PTR'), ['ns1.lab.example.']);
      t.strictSame(await dig(lab, `nothing.${zone}`, 'AAAA'), [], 'NXDOMAIN: no rdata');
    });

    t.test('nsupdate with the generated key adds and deletes AAAA, PTR and TXT', async (t) => {
      const addr = `${p}c0:ffee`;
      const ptr = reverseName(addr);
      const add = await nsupdate(lab, [
        `zone ${zone}`,
        `update add c1.${zone} 60 AAAA ${addr}`,
        `update add c1.${zone} 60 TXT "container c1"`,
        'send',
        `zone ${reverseZone}`,
        `update add ${ptr} 60 PTR c1.${zone}.`,
      ]);
      t.equal(add.code, 0, `add: ${add.stdout}${add.stderr}`);
      t.strictSame(await dig(lab, `c1.${zone}`, 'AAAA'), [addr]);
      t.strictSame(await dig(lab, `c1.${zone}`, 'TXT'), ['"container c1"']);
      t.strictSame(await dig(lab, ptr, 'PTR'), [`c1.${zone}.`]);

      const del = await nsupdate(lab, [`zone ${zone}`, `update delete c1.${zone} AAAA ${addr}`, `update delete c1.${zone} TXT`, 'send', `zone ${reverseZone}`, `update delete ${ptr} PTR`, 'send']);
      t.equal(del.code, 0, `delete: ${del.stdout}${del.stderr}`);
      t.strictSame(await dig(lab, `c1.${zone}`, 'AAAA'), []);
      t.strictSame(await dig(lab, `c1.${zone}`, 'TXT'), []);
      t.strictSame(await dig(lab, ptr, 'PTR'), []);
    });

    t.test('updates the policy does not allow are refused', async (t) => {
      const a = await nsupdate(lab, [`zone ${zone}`, `update add v4.${zone} 60 A 192.0.2.1`]);
      t.not(a.code, 0, 'type A is not granted');
      t.match(a.stdout + a.stderr, /update failed/);
      t.strictSame(await dig(lab, `v4.${zone}`, 'A'), []);

      const unsigned = await nsupdate(lab, [`zone ${zone}`, `update add u.${zone} 60 AAAA ${p}99`], null);
      t.not(unsigned.code, 0, 'unsigned update refused');
      t.match(unsigned.stdout + unsigned.stderr, /update failed: (REFUSED|NOTAUTH)/);
      t.strictSame(await dig(lab, `u.${zone}`, 'AAAA'), []);

      const wrongKey = path.join(tmp, 'wrong.key');
      const good = fs.readFileSync(lab.dnsKeyFile ?? '', 'utf8');
      const other = Buffer.alloc(32, 7).toString('base64');
      t.notMatch(good, new RegExp(other.replace(/[+/]/g, '\\$&')));
      fs.writeFileSync(wrongKey, good.replace(/secret "[^"]*"/, `secret "${other}"`));
      const bad = await nsupdate(lab, [`zone ${zone}`, `update add w.${zone} 60 AAAA ${p}98`], wrongKey);
      t.not(bad.code, 0, 'same key name, other secret: refused');
      t.match(bad.stdout + bad.stderr, /BADSIG|BADKEY/);
      t.strictSame(await dig(lab, `w.${zone}`, 'AAAA'), []);

      const unknownKey = path.join(tmp, 'unknown.key');
      fs.writeFileSync(unknownKey, good.replace(/key "[^"]*"/, 'key "not-the-lab-key"'));
      const unknown = await nsupdate(lab, [`zone ${zone}`, `update add w.${zone} 60 AAAA ${p}98`], unknownKey);
      t.not(unknown.code, 0, 'unknown key name: refused');
      t.match(unknown.stdout + unknown.stderr, /BADSIG|BADKEY/);
    });

    t.test('host A (root netns) and host B reach the server; no default route', async (t) => {
      const [nic] = await ipJson<IpLink>(['addr', 'show', 'dev', lab.hostIf]);
      const v6 = (nic?.addr_info ?? []).filter((a) => a.family === 'inet6' && a.scope === 'global');
      t.strictSame(
        v6.map((a) => [a.local, a.prefixlen, !!a.tentative]),
        [[`${p}2`, 64, false]],
        'host A: the static address, usable',
      );
      const fromA = await run('dig', ['+short', '+norec', '+time=2', '+tries=2', `@${p}53`, zone, 'SOA']);
      t.equal(fromA.code, 0, `dig from the root netns: ${fromA.stdout}${fromA.stderr}`);
      t.match(fromA.stdout, /^ns1\.lab\.example\. /);

      t.ok((await netnsNames()).includes(`${NAME}-hostb`), 'host B netns');
      const [nicB] = await ipJson<IpLink>(['addr', 'show', 'dev', 'nic0'], lab.hostbNetns);
      const v6b = (nicB?.addr_info ?? []).filter((a) => a.family === 'inet6');
      t.ok(v6b.some((a) => a.scope === 'link' && !a.tentative), 'host B: link-local, not tentative');
      t.ok(
        v6b.some((a) => a.scope === 'global' && a.local === `${p}3` && a.prefixlen === 64 && !a.tentative),
        'host B: the static address',
      );
      t.equal((await run('cat', ['/proc/sys/net/ipv6/conf/nic0/accept_ra'], { netns: lab.hostbNetns })).stdout.trim(), '0');
      const fromB = await run('dig', ['+short', '+norec', '+time=2', '+tries=2', `@${p}53`, reverseZone, 'SOA'], { netns: lab.hostbNetns });
      t.equal(fromB.code, 0, `dig from host B: ${fromB.stdout}${fromB.stderr}`);
      t.match(fromB.stdout, /^ns1\.lab\.example\. /);

      // An update sent from host B (its own source address) works too.
      const upd = await run('nsupdate', ['-t', '10', '-k', lab.dnsKeyFile ?? ''], {
        netns: lab.hostbNetns,
        input: `server ${p}53 53\nzone ${zone}\nupdate add b.${zone} 60 AAAA ${p}3\nsend\n`,
      });
      t.equal(upd.code, 0, `nsupdate from host B: ${upd.stdout}${upd.stderr}`);
      t.strictSame(await dig(lab, `b.${zone}`, 'AAAA'), [`${p}3`]);

      const defaults = await ipJson<IpRoute>(['-6', 'route', 'show', 'default']);
      t.strictSame(
        defaults.filter((r) => r.dev === lab.hostIf),
        [],
        'no default route via the host NIC',
      );
      const routes = await ipJson<IpRoute>(['-6', 'route', 'show', 'dev', lab.hostIf]);
      t.strictSame(routes.map((r) => r.dst).sort(), [`${p}/64`, 'fe80::/64'].sort(), 'host A: only the on-link routes');
      const routesB = await ipJson<IpRoute>(['-6', 'route', 'show'], lab.hostbNetns);
      t.strictSame(routesB.map((r) => r.dst).sort(), [`${p}/64`, 'fe80::/64'].sort(), 'host B: only the on-link routes');
    });

    t.test('up again is a no-op: same server, same key', async (t) => {
      const pidFile = path.join(lab.runDir, 'dns', `${daemon}.pid`);
      const pid = fs.readFileSync(pidFile, 'utf8');
      const key = fs.readFileSync(lab.dnsKeyFile ?? '', 'utf8');
      const again = await labUp(env);
      t.match(again.upOutput, new RegExp(`dns: up \\(${server} pid \\d+ already running`));
      t.equal(fs.readFileSync(pidFile, 'utf8'), pid, 'same server');
      t.equal(fs.readFileSync(lab.dnsKeyFile ?? '', 'utf8'), key, 'same key');
      t.strictSame(await dig(lab, `b.${zone}`, 'AAAA'), [`${p}3`], 'zone content kept');
    });

    t.test('down twice leaves nothing', async (t) => {
      const first = await lab.down();
      t.strictSame(
        first.stdout.trim().split('\n').map((l) => l.split(':')[0]),
        ['dns', 'peer', 'hostb', 'host', 'router', 'lan'],
        'down reports each role, in reverse order',
      );
      const second = await lab.down();
      downDone = true;
      t.equal(second.code, 0);
      t.equal(second.stdout, '', 'second down prints nothing');
      t.equal(second.stderr, '', 'second down complains about nothing');
      t.strictSame(
        (await netnsNames()).filter((n) => n.startsWith(`${NAME}-`)),
        [],
        'no netns left',
      );
      t.not((await run('ip', ['link', 'show', 'dev', lab.hostIf])).code, 0, 'host veth gone');
      t.strictSame(serverPidsFor(lab.runDir), [], `no ${daemon} left`);
      t.notOk(fs.existsSync(lab.runDir), 'run dir removed');
      const st = await lab.status();
      t.equal(st.code, 3, 'status: nothing exists');
    });
  });
}
