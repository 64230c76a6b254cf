// The ledger, shown end to end: the hook SIGKILLed at six points of a strict macvlan attach
// (OCI_SLAAC_HOOK_FAILPOINT: after the link, during RS, during DAD, after the address, right after
// the DNS update left and before its answer, after DNS publication), then the runtime's poststop —
// and nothing is left: no link in the container's netns, no state file, no DNS record on the
// lab's BIND, no host-side rule, route or proxy entry.
// Before each poststop the test shows what the killed hook had left (so the point was reached and
// there was something to undo). Also: killed, then the netns deleted before poststop — the record
// is replayed against a netns that is gone, and nothing fails.
//
// The lab's host is a netns of its own (kil-host): "no rule, route or proxy entry" is then exact,
// whatever other labs on this machine hold in the root namespace. host_link is on, so the host
// holds a route per container address (proto 86), which the kills at `address` and `dns` leave.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { dig, reverseName } from '../../vm/lab/dns';
import { fakeContainer, hostResidue, runHook, stateFiles, type FakeContainer } from '../../vm/lab/fake-container';
import type { ContainerRecord } from '../../runtime/core/record';
import { stableAddress } from '../../runtime/core/iid';
import { formatIPv6, parsePrefix } from '../../runtime/core/ipv6';

const PREFIX = '2001:db8:91::/64';
const HOST_NETNS = 'kil-host';
const TABLE = 4862;
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-kil-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
const secret = Buffer.alloc(32, 0x4b);
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), secret, { mode: 0o600 });
const configFile = path.join(work, 'config.toml');
const HOOK_ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };

type DnsLab = Lab & { dnsAddr: string; dnsPort: number; dnsZone: string; dnsReverseZone: string; dnsKeyFile: string };
let lab: DnsLab;
const timings: string[] = [];

t.before(async () => {
  const up = await labUp({
    LAB_NAME: 'kil',
    LAB_HOST_NETNS: HOST_NETNS,
    LAB_PREFIX: PREFIX,
    LAB_ROUTER_ADDR: '2001:db8:91::1',
    LAB_PEER_ADDR: '2001:db8:91::100',
    LAB_RETRANS_MS: '300',
    LAB_RDNSS: '2001:db8:91::53',
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:91::53',
    LAB_HOST_ADDR: '2001:db8:91::2/64',
  });
  const { dnsAddr, dnsPort, dnsZone, dnsReverseZone, dnsKeyFile } = up;
  if (!dnsAddr || !dnsPort || !dnsZone || !dnsReverseZone || !dnsKeyFile) throw new Error('the lab has no DNS server');
  lab = { ...up, dnsAddr, dnsPort, dnsZone, dnsReverseZone, dnsKeyFile };
  fs.writeFileSync(
    configFile,
    [
      `parent = ${JSON.stringify(lab.hostIf)}`,
      `state_dir = ${JSON.stringify(stateDir)}`,
      'dad = "strict"',
      'ra_timeout_ms = 5000',
      'host_link = true',
      '[dns]',
      `server = ${JSON.stringify(`[${lab.dnsAddr}]:${lab.dnsPort}`)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      `reverse_zone = ${JSON.stringify(lab.dnsReverseZone)}`,
      `key_file = ${JSON.stringify(lab.dnsKeyFile)}`,
      'ttl = 60',
      'timeout_ms = 1000',
      'required = false',
    ].join('\n') + '\n',
  );
});
t.teardown(async () => {
  if (timings.length) t.comment(`timings:\n${timings.join('\n')}`);
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const hook = (stage: string, state: string, env: Record<string, string> = {}) => runHook(stage, state, { config: configFile, hostNetns: HOST_NETNS, env: { ...HOOK_ENV, ...env }, timeoutMs: 30_000 });

const readState = (id: string): ContainerRecord | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(stateDir, `${id}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
};

/** The RFC 7217 address a name gets on the lab's prefix (DAD counter 0: nobody holds it). */
const addressOf = (name: string): string => formatIPv6(stableAddress({ prefix: parsePrefix(PREFIX).address, prefixLength: 64, name, networkId: '', dadCounter: 0, secret }).address);

const POINTS = ['link', 'rs', 'dad', 'address', 'dns-sent', 'dns'] as const;
type Point = (typeof POINTS)[number];

/** What the killed hook's ledger holds at each point (strict macvlan, host_link, [dns]). */
const LEDGER_AT: Record<Point, RegExp> = {
  link: /^link$/,
  rs: /^link address$/, // + the link-local address (the RS source)
  dad: /^link address$/, // strict: the global address only once DAD says unique
  address: /^link address address host-route$/,
  'dns-sent': /^link address address host-route( route)+ dns$/, // the update has left, its answer not yet in
  dns: /^link address address host-route( route)+ dns$/,
};

/** Everything that must be gone after poststop, for container `c` named `name`. */
async function nothingLeft(t: Test, c: FakeContainer, name: string, netnsGone = false): Promise<void> {
  if (!netnsGone) t.same((await c.links()).filter((l) => !/^\d+: lo:/.test(l)), [], 'no link left in the container netns (only lo)');
  t.same(stateFiles(stateDir), [], 'no state file (nor temp file) left');
  t.same(await hostResidue(HOST_NETNS, TABLE), { rules: [], proxies: [], routes: [], table: [] }, 'host: no rule, no proxy entry, no proto 86 route in any table');
  const companions = (await run('ip', ['-n', HOST_NETNS, '-o', '-d', 'link', 'show', 'type', 'macvlan'])).stdout.split('\n').filter((l) => l.trim() !== '');
  t.ok(companions.every((l) => l.includes(`osh-${lab.hostIf}`)), 'host: no macvlan but the host_link companion (which stays by design)');
  t.same(await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA'), [], 'DNS: no AAAA at the name');
  t.same(await dig(lab, reverseName(addressOf(name)), 'PTR'), [], 'DNS: no PTR for the address');
}

for (const point of POINTS) {
  t.test(`SIGKILL at "${point}", then poststop: nothing left`, async (t) => {
    const name = `kil-${point}`;
    const address = addressOf(name);
    const c = await fakeContainer({ id: `kill-${point}`, netns: `kil-c-${point}`, dir: work, annotations: { 'oci-slaac-hook.name': name } });
    t.teardown(c.remove);

    const r = await hook('createRuntime', c.state('creating'), { OCI_SLAAC_HOOK_FAILPOINT: point });
    t.equal(r.signal, 'SIGKILL', `the hook died by SIGKILL (${r.stderr.trim() || 'no output'})`);
    t.equal(r.code, null, 'no exit code: it never got to exit');
    t.notOk(r.timedOut, 'killed by itself at the failpoint, not by our time limit');

    // What the killed hook left: the record of everything it may have made, and the things themselves.
    const rec = readState(c.id);
    t.equal(rec?.phase, 'attaching', 'the state file says the attach did not finish');
    const kinds = (rec?.ledger ?? []).map((e) => e.kind).join(' ');
    t.match(kinds, LEDGER_AT[point], `ledger at "${point}": ${kinds}`);
    const links = await c.links();
    t.ok(links.some((l) => /^\d+: eth0@/.test(l) && l.includes(`alias oci-slaac-hook:${c.id}`)), 'the container has its eth0, marked ours', { links });
    const side = await hostResidue(HOST_NETNS, TABLE);
    if (point === 'address' || point === 'dns-sent' || point === 'dns') {
      t.ok(side.routes.some((l) => l.startsWith(`${address} dev osh-`)), `host route to ${address} through the companion`);
      t.match((await run('ip', ['-n', c.netns, '-6', 'addr', 'show', 'dev', 'eth0'])).stdout, `inet6 ${address}/64 scope global`, 'the global address is on eth0');
    } else {
      t.same(side.routes, [], 'no host route yet');
    }
    if (point === 'dns-sent') {
      t.ok(rec?.dns?.records.every((x) => x.uncertain && !x.published), 'the record says: possibly published');
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline && (await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA')).length === 0) await new Promise((x) => setTimeout(x, 50));
      t.same(await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA'), [address], 'BIND applied the AAAA the killed hook sent');
    }
    if (point === 'dns') {
      t.same(await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA'), [address], 'AAAA published before the kill');
      t.same(await dig(lab, reverseName(address), 'PTR'), [`${name}.${lab.dnsZone}.`], 'PTR published before the kill');
      t.equal(rec?.dns?.status, 'published', 'the record says published');
    }

    const stop = await hook('poststop', c.state('stopped'));
    t.equal(stop.code, 0, `poststop exits 0 (${stop.stderr.trim()})`);
    t.notMatch(stop.stderr, /withdraw:|cleanup|failed|error/i, 'poststop reports no failure');
    t.match(stop.stderr, /\(link deleted\)/, 'poststop found the link and deleted it');
    await nothingLeft(t, c, name);
    const again = await hook('poststop', c.state('stopped'));
    t.equal(again.code, 0, 'a second poststop exits 0');
    t.equal(again.stderr, '', 'and is quiet');
    timings.push(`  ${point}: killed after ${r.ms.toFixed(0)} ms, ledger [${kinds}], poststop ${stop.ms.toFixed(0)} ms`);
  });
}

for (const point of ['link', 'dns'] as const) {
  t.test(`SIGKILL at "${point}", the netns deleted, then poststop: the record is replayed and nothing fails`, async (t) => {
    const name = `kil-gone-${point}`;
    const c = await fakeContainer({ id: `kill-gone-${point}`, netns: `kil-g-${point}`, dir: work, annotations: { 'oci-slaac-hook.name': name } });
    t.teardown(c.remove);
    const r = await hook('createRuntime', c.state('creating'), { OCI_SLAAC_HOOK_FAILPOINT: point });
    t.equal(r.signal, 'SIGKILL', 'killed');
    t.equal(r.code, null);
    const kinds = (readState(c.id)?.ledger ?? []).map((e) => e.kind).join(' ');
    t.match(kinds, LEDGER_AT[point], `ledger: ${kinds}`);
    if (point === 'dns') t.same(await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA'), [addressOf(name)], 'AAAA published before the kill');

    await c.remove(); // the runtime took the container's netns (and its link) away first
    t.notOk(fs.existsSync(`/run/netns/${c.netns}`), 'netns gone');
    const stop = await hook('poststop', c.state('stopped'));
    t.equal(stop.code, 0, `poststop exits 0 (${stop.stderr.trim()})`);
    t.notMatch(stop.stderr, /withdraw:|cleanup|failed|error/i, 'no failure reported');
    t.match(stop.stderr, /\(link gone\)/, 'poststop says the link went with the netns');
    await nothingLeft(t, c, name, true);
    timings.push(`  ${point} + netns gone: killed after ${r.ms.toFixed(0)} ms, poststop ${stop.ms.toFixed(0)} ms`);
  });
}
