// e2e: the lab's DNS role serving several reverse zones (LAB_DNS_REVERSE_ZONES), with BIND and
// with Knot: both zones answer SOA, the generated key adds and deletes a PTR in each; without the
// variable the default is the one zone of LAB_PREFIX as before; a list missing
// LAB_DNS_REVERSE_ZONE, a zone outside ip6.arpa or one listed twice is refused before anything is
// made. Labs rnzb and rnzk (2001:db8:a9::/64), host netns rnzb-host / rnzk-host.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { dig, nsupdate, reverseName } from '../../vm/lab/dns';
import { run, REPO_ROOT } from '../../vm/lab/run';
import { LAB_SH, labUp } from '../../vm/lab/lab';

const Z1 = '0.0.0.0.7.a.0.0.8.b.d.0.1.0.0.2.ip6.arpa'; // 2001:db8:a7::/64
const Z2 = '0.0.0.0.8.a.0.0.8.b.d.0.1.0.0.2.ip6.arpa'; // 2001:db8:a8::/64
const DNS_SH = path.join(REPO_ROOT, 'vm', 'roles', 'dns.sh');
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

t.test('defaults unchanged; bad lists refused before anything is made', async (t) => {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LAB_')));
  const env = await run('sh', [LAB_SH, 'env'], { baseEnv: base, env: { LAB_NAME: 'rnzenv', LAB_DNS: 'bind', LAB_PREFIX: '2001:db8:a9::/64' } });
  t.match(env.stdout, /^LAB_DNS_REVERSE_ZONE=0\.0\.0\.0\.9\.a\.0\.0\.8\.b\.d\.0\.1\.0\.0\.2\.ip6\.arpa$/m);
  t.match(env.stdout, /^LAB_DNS_REVERSE_ZONES=0\.0\.0\.0\.9\.a\.0\.0\.8\.b\.d\.0\.1\.0\.0\.2\.ip6\.arpa$/m, 'LAB_DNS_REVERSE_ZONES: the one zone');
  const both = await run('sh', [LAB_SH, 'env'], { baseEnv: base, env: { LAB_NAME: 'rnzenv', LAB_DNS: 'bind', LAB_DNS_REVERSE_ZONES: `${Z1}. ${Z2}` } });
  t.match(both.stdout, new RegExp(`^LAB_DNS_REVERSE_ZONE=${Z1.replace(/\./g, '\\.')}$`, 'm'), 'LAB_DNS_REVERSE_ZONE: the first of the list');
  t.match(both.stdout, new RegExp(`^LAB_DNS_REVERSE_ZONES=${Z1.replace(/\./g, '\\.')} ${Z2.replace(/\./g, '\\.')}$`, 'm'), 'trailing dots dropped');
  const cases: [Record<string, string>, RegExp][] = [
    [{ LAB_DNS_REVERSE_ZONE: Z1, LAB_DNS_REVERSE_ZONES: Z2 }, /LAB_DNS_REVERSE_ZONES \(.*\) does not include LAB_DNS_REVERSE_ZONE/],
    [{ LAB_DNS_REVERSE_ZONES: `${Z1} lab.example` }, /LAB_DNS_REVERSE_ZONES: lab\.example is not under ip6\.arpa/],
    [{ LAB_DNS_REVERSE_ZONES: `${Z1} ${Z1}` }, /is listed twice/],
  ];
  const runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-rnzbad-'));
  t.teardown(() => fs.rmSync(runDir, { recursive: true, force: true }));
  for (const [extra, want] of cases) {
    const r = await run('sh', [DNS_SH, 'up'], { baseEnv: base, env: { LAB_NAME: 'rnzbad', LAB_LAN_NETNS: 'rnzbad-lan', LAB_DNS_NETNS: 'rnzbad-dns', LAB_RUN_DIR: runDir, ...extra } });
    t.not(r.code, 0, JSON.stringify(extra));
    t.match(r.stderr, want);
    t.notOk((await run('ip', ['netns', 'list'])).stdout.includes('rnzbad'), 'no netns made');
  }
  t.same(fs.readdirSync(runDir), [], 'no file made');
});

for (const server of ['bind', 'knot'] as const) {
  const daemon = server === 'bind' ? 'named' : 'knotd';
  t.test(`${server} serves two reverse zones`, { skip: [daemon, 'dig', 'nsupdate'].find((c) => !has(c)) }, async (t) => {
    const name = server === 'bind' ? 'rnzb' : 'rnzk';
    const lab = await labUp({
      LAB_NAME: name,
      LAB_HOST_NETNS: `${name}-host`,
      LAB_PREFIX: '2001:db8:a9::/64',
      LAB_ROUTER_ADDR: '2001:db8:a9::1',
      LAB_PEER_ADDR: '2001:db8:a9::100',
      LAB_DNS: server,
      LAB_DNS_ADDR: '2001:db8:a9::53',
      LAB_DNS_REVERSE_ZONES: `${Z1} ${Z2}`,
    });
    t.teardown(() => lab.down().then(() => undefined));
    t.same(lab.dnsReverseZones, [Z1, Z2]);
    t.equal(lab.dnsReverseZone, Z1);
    for (const z of [Z1, Z2]) t.equal((await dig(lab, z, 'SOA')).length, 1, `SOA of ${z}`);
    const a1 = '2001:db8:a7::1';
    const a2 = '2001:db8:a8::2';
    const add = await nsupdate(lab, [`zone ${Z1}`, `update add ${reverseName(a1)} 60 PTR c1.lab.example.`, 'send', `zone ${Z2}`, `update add ${reverseName(a2)} 60 PTR c2.lab.example.`, 'send']);
    t.equal(add.code, 0, `a PTR added in each zone: ${add.stderr}`);
    t.same(await dig(lab, reverseName(a1), 'PTR'), ['c1.lab.example.']);
    t.same(await dig(lab, reverseName(a2), 'PTR'), ['c2.lab.example.']);
    const del = await nsupdate(lab, [`zone ${Z2}`, `update delete ${reverseName(a2)} PTR`, 'send']);
    t.equal(del.code, 0, 'deleted');
    t.same(await dig(lab, reverseName(a2), 'PTR'), []);
    t.same(await dig(lab, reverseName(a1), 'PTR'), ['c1.lab.example.'], 'the other zone untouched');
  });
}
