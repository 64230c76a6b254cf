// `oci-slaac-hook check ID` (the CNI CHECK verb), the built CLI against real netns and a real
// BIND: ok on a healthy container; each difference from the ledger named on a line of its own,
// exit 1 (an address deleted, tentative or dadfailed, the default route deleted, the netns gone
// or replaced, a DNS record deleted, a DNS server that does not answer); exit 2 for an unknown id
// or bad usage. recordExists (the DNS side of check) against BIND and Knot.
//
// Lab names and prefixes of its own (chk, chkk; 2001:db8:c4c::/64, 2001:db8:c4d::/64): the host
// NIC sits in the root netns with a static address so that this process and the hook reach the
// DNS server, and another lab there must not share its on-link route.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import type { ContainerRecord } from '../../runtime/core/record';
import { loadKeyFile } from '../../runtime/wire/dns/keyfile';
import { DnsQueryError, parseServer, queryRecords, recordExists } from '../../runtime/system/dns-client';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { nsupdate, reverseName } from '../../vm/lab/dns';

const CLI = path.join(__dirname, '..', '..', 'dist', 'oci-slaac-hook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-chk-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0x4b), { mode: 0o600 });

const P = '2001:db8:c4c:';
type DnsLab = Lab & { dnsAddr: string; dnsPort: number; dnsZone: string; dnsReverseZone: string; dnsKeyFile: string };
let lab: DnsLab;
let config: string;
const sleepers: ChildProcess[] = [];

function dnsLab(up: Lab): DnsLab {
  const { dnsAddr, dnsPort, dnsZone, dnsReverseZone, dnsKeyFile } = up;
  if (!dnsAddr || !dnsPort || !dnsZone || !dnsReverseZone || !dnsKeyFile) throw new Error(`lab ${up.name} has no DNS server`);
  return { ...up, dnsAddr, dnsPort, dnsZone, dnsReverseZone, dnsKeyFile };
}

t.before(async () => {
  lab = dnsLab(
    await labUp({
      LAB_NAME: 'chk',
      LAB_PREFIX: `${P}:/64`,
      LAB_ROUTER_ADDR: `${P}:1`,
      LAB_PEER_ADDR: `${P}:100`,
      LAB_RETRANS_MS: '300',
      LAB_RDNSS: `${P}:53`,
      LAB_DNS: 'bind',
      LAB_DNS_ADDR: `${P}:53`,
      LAB_HOST_ADDR: `${P}:2/64`,
    }),
  );
  config = writeConfig('main', stateDir);
});
t.teardown(async () => {
  for (const s of sleepers) s.kill('SIGKILL');
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

function writeConfig(name: string, dir: string, dns?: { server?: string }): string {
  const file = path.join(work, `${name}.toml`);
  const lines = [`parent = ${JSON.stringify(lab.hostIf)}`, `state_dir = ${JSON.stringify(dir)}`, 'ra_timeout_ms = 3000'];
  if (dns) {
    lines.push(
      '[dns]',
      `server = ${JSON.stringify(dns.server ?? `[${lab.dnsAddr}]:${lab.dnsPort}`)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      `reverse_zone = ${JSON.stringify(lab.dnsReverseZone)}`,
      `key_file = ${JSON.stringify(lab.dnsKeyFile)}`,
      'ttl = 60',
      'timeout_ms = 400',
      'required = true',
    );
  }
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

/** A container stand-in: a netns made here (by path, as podman passes it, or via a process in it) and a bundle. */
async function fakeContainer(id: string, opts: { byPid?: boolean; annotations?: Record<string, string> } = {}) {
  const netnsName = `chk-${id}`;
  await run('ip', ['netns', 'add', netnsName]);
  const bundle = path.join(work, 'bundles', id);
  fs.mkdirSync(bundle, { recursive: true });
  let sleeper: ChildProcess | undefined;
  if (opts.byPid) {
    sleeper = spawn('ip', ['netns', 'exec', netnsName, 'sleep', '120'], { stdio: 'ignore' });
    sleepers.push(sleeper);
    await new Promise((r) => setTimeout(r, 100));
  }
  const pid = sleeper?.pid;
  const network = opts.byPid ? { type: 'network' } : { type: 'network', path: `/run/netns/${netnsName}` };
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'pid' }, network] }, annotations: opts.annotations ?? {} }));
  const state = (status: string) => JSON.stringify({ ociVersion: '1.0.2', id, status, ...(status !== 'stopped' && pid ? { pid } : {}), bundle });
  return {
    id,
    netnsName,
    pid,
    /** Kill the container's process (its /proc/PID/ns/net no longer opens). */
    kill: async () => {
      if (!sleeper || sleeper.exitCode !== null || sleeper.signalCode !== null) return;
      const exited = new Promise((r) => sleeper?.once('exit', r));
      sleeper.kill('SIGKILL');
      await exited;
    },
    remove: async () => {
      await run('ip', ['netns', 'del', netnsName]);
    },
    state,
  };
}

const hook = (stage: string, input: string, cfg = config) =>
  run(process.execPath, [CLI, stage, '--config', cfg], { input, env: { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog') }, timeoutMs: 20000 });
const check = (args: string[], cfg = config) => run(process.execPath, [CLI, 'check', ...args, '--config', cfg], { timeoutMs: 20000 });
const lines = (text: string): string[] => text.split('\n').filter((l) => l.length > 0);
const readState = (dir: string, id: string): ContainerRecord | undefined => {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, `${id}.json`), 'utf8')) as ContainerRecord;
  } catch {
    return undefined;
  }
};
const ipIn = (ns: string, ...args: string[]) => run('ip', ['-n', ns, ...args]);
const sysctlIn = (ns: string, key: string, value: string) => run('ip', ['netns', 'exec', ns, 'sysctl', '-q', '-w', `${key}=${value}`]);

async function until(what: string, cond: () => Promise<boolean>, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not within ${ms} ms: ${what}`);
}

t.test('a healthy container: ok; an address deleted, tentative, dadfailed, and the default route deleted: each named', async (t) => {
  const c = await fakeContainer('c1', { annotations: { 'oci-slaac-hook.name': 'chk-one' } });
  t.teardown(c.remove);
  const r = await hook('createRuntime', c.state('creating'));
  t.equal(r.code, 0, r.stderr);
  const rec = readState(stateDir, 'c1');
  if (!rec) throw new Error('no state written');
  const address = rec.addresses[0]?.address ?? '';
  const stateText = fs.readFileSync(path.join(stateDir, 'c1.json'), 'utf8');

  const ok = await check(['c1']);
  t.equal(ok.code, 0, ok.stderr);
  t.equal(ok.stdout, 'ok\n', 'ok');
  t.equal(ok.stderr, '', 'nothing on stderr');
  const okJson = await check(['c1', '--json']);
  t.equal(okJson.code, 0);
  t.same(JSON.parse(okJson.stdout), { id: 'c1', ok: true, differences: [] }, '--json: { id, ok, differences }');
  t.equal((await check([rec.id.slice(0, 1)])).code, 0, 'a prefix of exactly one id will do');

  // The address deleted behind our back.
  t.equal((await ipIn(c.netnsName, 'addr', 'del', `${address}/64`, 'dev', 'eth0')).code, 0);
  const gone = await check(['c1']);
  t.equal(gone.code, 1, 'exit 1');
  t.same(lines(gone.stdout), [`address ${address}/64 on eth0 is missing`], 'one line naming the address');
  t.comment(gone.stdout.trim());
  const goneJson = JSON.parse((await check(['c1', '--json'])).stdout) as { ok: boolean; differences: unknown[] };
  t.match(goneJson, { ok: false, differences: [{ kind: 'address', state: 'missing', text: `address ${address}/64 on eth0 is missing` }] });
  t.equal(goneJson.differences.length, 1);

  // Back, but under the kernel's own DAD (long: 50 transmits): tentative, not usable.
  await sysctlIn(c.netnsName, 'net.ipv6.conf.eth0.accept_dad', '1');
  await sysctlIn(c.netnsName, 'net.ipv6.conf.eth0.dad_transmits', '50');
  t.equal((await ipIn(c.netnsName, 'addr', 'add', `${address}/64`, 'dev', 'eth0')).code, 0);
  const tentative = await check(['c1']);
  t.equal(tentative.code, 1);
  t.same(lines(tentative.stdout), [`address ${address}/64 on eth0 is tentative (not usable)`], 'tentative (IFA_F_TENTATIVE)');
  t.comment(tentative.stdout.trim());
  await ipIn(c.netnsName, 'addr', 'del', `${address}/64`, 'dev', 'eth0');

  // Back while the peer holds it: the kernel's DAD fails.
  await ipIn(lab.peerNetns, 'addr', 'add', `${address}/64`, 'dev', lab.peerIf, 'nodad');
  t.teardown(() => ipIn(lab.peerNetns, 'addr', 'del', `${address}/64`, 'dev', lab.peerIf).then(() => undefined));
  await ipIn(c.netnsName, 'addr', 'add', `${address}/64`, 'dev', 'eth0');
  await until('the kernel marks the address dadfailed', async () => /dadfailed/.test((await ipIn(c.netnsName, '-6', 'addr', 'show', 'dev', 'eth0')).stdout));
  const failed = await check(['c1']);
  t.equal(failed.code, 1);
  t.same(lines(failed.stdout), [`address ${address}/64 on eth0 is dadfailed (the kernel saw a duplicate)`], 'dadfailed (IFA_F_DADFAILED)');
  t.comment(failed.stdout.trim());
  await ipIn(lab.peerNetns, 'addr', 'del', `${address}/64`, 'dev', lab.peerIf);
  await ipIn(c.netnsName, 'addr', 'del', `${address}/64`, 'dev', 'eth0');
  await sysctlIn(c.netnsName, 'net.ipv6.conf.eth0.accept_dad', '0');
  await ipIn(c.netnsName, 'addr', 'add', `${address}/64`, 'dev', 'eth0', 'nodad');
  t.equal((await check(['c1'])).stdout, 'ok\n', 'put back as it was: ok again');

  // The default route deleted.
  t.equal((await ipIn(c.netnsName, '-6', 'route', 'del', 'default')).code, 0);
  const noRoute = await check(['c1']);
  t.equal(noRoute.code, 1);
  t.same(lines(noRoute.stdout), [`route default via ${rec.router.address} dev eth0 is missing`], 'one line naming the route');
  t.comment(noRoute.stdout.trim());

  // The link itself deleted: one line, not one per address and route.
  t.equal((await ipIn(c.netnsName, 'link', 'del', 'eth0')).code, 0);
  const noLink = await check(['c1']);
  t.equal(noLink.code, 1);
  t.same(lines(noLink.stdout), ['link eth0 (oci-slaac-hook:c1) is gone: its addresses and routes went with it']);
  t.comment(noLink.stdout.trim());

  t.equal(fs.readFileSync(path.join(stateDir, 'c1.json'), 'utf8'), stateText, 'check never writes the record');
  t.equal((await hook('poststop', c.state('stopped'))).code, 0);
  const after = await check(['c1']);
  t.equal(after.code, 2, 'after poststop: unknown');
  t.match(after.stderr, /^oci-slaac-hook: unknown container c1: no state in /);
});

t.test('the netns gone without poststop (deleted; its process killed) or replaced: one line saying so', async (t) => {
  const c = await fakeContainer('c2');
  const r = await hook('createRuntime', c.state('creating'));
  t.equal(r.code, 0, r.stderr);
  await c.remove();
  const gone = await check(['c2']);
  t.equal(gone.code, 1, 'exit 1');
  t.match(lines(gone.stdout), [new RegExp(`^network namespace /run/netns/chk-c2 is gone \\(.*does not exist.*\\): its link, addresses and routes went with it$`)]);
  t.equal(lines(gone.stdout).length, 1, 'one line, not one per address and route');
  t.comment(gone.stdout.trim());
  t.match(JSON.parse((await check(['c2', '--json'])).stdout), { id: 'c2', ok: false, differences: [{ kind: 'netns', state: 'gone' }] });

  // The same path, another netns: still the container's is gone.
  await run('ip', ['netns', 'add', 'chk-c2']);
  t.teardown(c.remove);
  const replaced = await check(['c2']);
  t.equal(replaced.code, 1);
  t.match(lines(replaced.stdout), [/^network namespace \/run\/netns\/chk-c2 is another one now \(\d+:\d+:[0-9a-f]+, was \d+:\d+:[0-9a-f]+\): the container's is gone/]);
  t.equal(lines(replaced.stdout).length, 1);
  t.comment(replaced.stdout.trim());
  t.equal((await hook('poststop', c.state('stopped'))).code, 0, 'poststop cleans up');
  t.equal((await check(['c2'])).code, 2);

  const p = await fakeContainer('c3', { byPid: true });
  t.teardown(p.remove);
  t.equal((await hook('createRuntime', p.state('creating'))).code, 0);
  t.equal((await check(['c3'])).stdout, 'ok\n', 'by pid: ok while its process lives');
  await p.kill();
  const killed = await check(['c3']);
  t.equal(killed.code, 1);
  t.match(lines(killed.stdout), [new RegExp(`^network namespace /proc/${p.pid}/ns/net is gone `)], 'its process killed: the netns path no longer opens');
  t.equal(lines(killed.stdout).length, 1);
  t.comment(killed.stdout.trim());
  t.equal((await hook('poststop', p.state('stopped'))).code, 0);
});

t.test('unknown id and bad usage: exit 2', async (t) => {
  const unknown = await check(['no-such-container']);
  t.equal(unknown.code, 2);
  t.equal(unknown.stdout, '');
  t.match(unknown.stderr, /^oci-slaac-hook: unknown container no-such-container: no state in \S+ \(never attached by this hook, or detached since\)\n$/);
  const none = await check([]);
  t.equal(none.code, 2);
  t.match(none.stderr, /^oci-slaac-hook: check: exactly one container ID is required\nusage:/);
  t.match(none.stderr, /oci-slaac-hook check ID \[--config PATH\] \[--json\]/, 'the usage text lists check');
  t.equal((await check(['a', 'b'])).code, 2, 'two ids');
  t.equal((await check(['a', '--nope'])).code, 2, 'an unknown option');
  t.equal((await check(['../etc'])).code, 2, 'not an id');
});

t.test('DNS: ok while published (a foreign AAAA beside ours too); the deleted AAAA named; a server that does not answer', async (t) => {
  const dnsState = path.join(work, 'state-dns');
  const cfg = writeConfig('dns', dnsState, {});
  const zone = lab.dnsZone;
  const name = `chkweb.${zone}`;
  const foreign = await nsupdate(lab, [`zone ${zone}`, `update add ${name} 60 AAAA ${P}:def`]);
  t.equal(foreign.code, 0, foreign.stderr);
  const c = await fakeContainer('c4', { annotations: { 'oci-slaac-hook.name': 'chkweb' } });
  t.teardown(c.remove);
  const r = await hook('createRuntime', c.state('creating'), cfg);
  t.equal(r.code, 0, r.stderr);
  const rec = readState(dnsState, 'c4');
  const address = rec?.addresses[0]?.address ?? '';
  t.match(rec?.dns, { name, status: 'published', records: [{ type: 'AAAA', data: address, published: true }, { type: 'PTR', data: name, published: true }] });

  const ok = await check(['c4'], cfg);
  t.equal(ok.code, 0, ok.stdout + ok.stderr);
  t.equal(ok.stdout, 'ok\n', 'ok while published, beside a foreign AAAA at the same name');

  const del = await nsupdate(lab, [`zone ${zone}`, `update delete ${name} AAAA ${address}`]);
  t.equal(del.code, 0, del.stderr);
  const missing = await check(['c4'], cfg);
  t.equal(missing.code, 1);
  t.same(lines(missing.stdout), [`DNS record ${name} AAAA ${address} is missing at [${lab.dnsAddr}]:${lab.dnsPort}`], 'the deleted AAAA named; the PTR is there');
  t.comment(missing.stdout.trim());
  t.match(JSON.parse((await check(['c4', '--json'], cfg)).stdout), { ok: false, differences: [{ kind: 'dns', state: 'missing' }] });

  // The same record, as if the server had moved to a port where nothing answers.
  const silentState = path.join(work, 'state-silent');
  fs.mkdirSync(silentState);
  const silent = JSON.parse(fs.readFileSync(path.join(dnsState, 'c4.json'), 'utf8')) as ContainerRecord;
  if (!silent.dns) throw new Error('no dns state');
  silent.dns.server = `[${lab.dnsAddr}]:5399`;
  silent.dns.timeoutMs = 300;
  fs.writeFileSync(path.join(silentState, 'c4.json'), JSON.stringify(silent));
  const started = Date.now();
  const unanswered = await check(['c4'], writeConfig('silent', silentState, {}));
  const took = Date.now() - started;
  t.equal(unanswered.code, 1, 'a difference, not a crash');
  t.match(lines(unanswered.stdout), [new RegExp(`^DNS server \\[${lab.dnsAddr}\\]:5399 did not answer \\((TIMEOUT|NETWORK)\\b.*\\): ${name.replace(/\./g, '\\.')} not checked$`)], 'one line for the server');
  t.equal(lines(unanswered.stdout).length, 1, 'not one per record');
  t.ok(took < 5000, `bounded: ${took} ms`);
  t.comment(unanswered.stdout.trim());
  fs.rmSync(silentState, { recursive: true });

  t.equal((await hook('poststop', c.state('stopped'), cfg)).code, 0);
  await nsupdate(lab, [`zone ${zone}`, `update delete ${name} AAAA ${P}:def`]);
});

t.test('recordExists: our record among others, a deleted one, no such name, a wrong key — BIND and Knot', async (t) => {
  const knot = dnsLab(await labUp({ LAB_NAME: 'chkk', LAB_DNS: 'knot', LAB_PREFIX: '2001:db8:c4d::/64', LAB_ROUTER_ADDR: '2001:db8:c4d::1', LAB_PEER_ADDR: '2001:db8:c4d::100', LAB_DNS_ADDR: '2001:db8:c4d::53', LAB_HOST_ADDR: '2001:db8:c4d::2/64' }));
  t.teardown(() => knot.down().then(() => undefined));
  for (const [kind, l, p] of [['bind', lab, P], ['knot', knot, '2001:db8:c4d:']] as const) {
    const server = parseServer(`[${l.dnsAddr}]:${l.dnsPort}`);
    const key = loadKeyFile(l.dnsKeyFile);
    const zone = l.dnsZone;
    const host = `exists.${zone}`;
    const [ours, theirs] = [`${p}:e1`, `${p}:e2`];
    const add = await nsupdate(l, [`zone ${zone}`, `update add ${host} 60 AAAA ${ours}`, `update add ${host} 60 AAAA ${theirs}`, 'send', `zone ${l.dnsReverseZone}`, `update add ${reverseName(ours)} 60 PTR ${host}.`]);
    t.equal(add.code, 0, `${kind}: ${add.stderr}`);
    const q = { server, key, timeoutMs: 1000 };
    t.equal(await recordExists({ ...q, name: host, type: 'AAAA', data: ours }), true, `${kind}: ours, beside another AAAA`);
    t.equal(await recordExists({ ...q, name: host.toUpperCase(), type: 'AAAA', data: ours.toUpperCase() }), true, `${kind}: names and addresses in any case`);
    t.equal(await recordExists({ ...q, name: reverseName(ours), type: 'PTR', data: `${host}.` }), true, `${kind}: PTR`);
    t.equal(await recordExists({ ...q, name: reverseName(ours), type: 'PTR', data: `other.${zone}` }), false, `${kind}: PTR to another name`);
    t.equal(await recordExists({ ...q, name: host, type: 'AAAA', data: `${p}:e3` }), false, `${kind}: another address`);
    t.equal(await recordExists({ ...q, key: undefined, name: host, type: 'AAAA', data: ours }), true, `${kind}: unsigned`);
    const all = await queryRecords({ ...q, name: host, type: 'AAAA' });
    t.match(all, { rcode: 'NOERROR', authoritative: true, transport: 'udp' }, `${kind}: an authoritative, signed answer`);
    t.equal(all.records.length, 2);
    t.match(await queryRecords({ ...q, name: `nothing-here.${zone}`, type: 'AAAA' }), { rcode: 'NXDOMAIN', records: [] }, `${kind}: NXDOMAIN`);
    t.equal(await recordExists({ ...q, name: `nothing-here.${zone}`, type: 'AAAA', data: ours }), false);
    await nsupdate(l, [`zone ${zone}`, `update delete ${host} AAAA ${ours}`]);
    t.equal(await recordExists({ ...q, name: host, type: 'AAAA', data: ours }), false, `${kind}: deleted`);
    t.equal(await recordExists({ ...q, name: host, type: 'AAAA', data: theirs }), true, `${kind}: the other one is still there`);
    const wrong = { ...key, secret: Buffer.alloc(32, 1) };
    const e = await recordExists({ ...q, key: wrong, name: host, type: 'AAAA', data: theirs }).catch((x: unknown) => x);
    t.ok(e instanceof DnsQueryError, `${kind}: a wrong key rejects`);
    t.match((e as DnsQueryError).rcode, /^BAD(SIG|KEY)$/, `${kind}: ${(e as Error).message}`);
    const silent = await recordExists({ ...q, server: { ...server, port: 5399 }, timeoutMs: 200, retries: 1, name: host, type: 'AAAA', data: ours }).catch((x: unknown) => x);
    t.match(silent, { name: 'DnsQueryError', rcode: /^(TIMEOUT|NETWORK)$/ }, `${kind}: nobody there: ${(silent as Error).message}`);
  }
});
