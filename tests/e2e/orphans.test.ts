// Nothing orphaned (issue 10), end to end against the lab's BIND: the hook driven as a runtime
// drives it (vm/lab/fake-container.ts), in a lab whose host is a netns of its own (dnh-host).
//
// (a) The server applies an update but its reply is lost (an nftables rule in the DNS server's
//     netns drops what it sends back to the host): the container starts with its record pending,
//     BIND serves the AAAA all the same, and poststop withdraws it — and does not claim to have
//     withdrawn it while the server cannot be heard.
// (b) The hook SIGKILLed right after its update left (OCI_SLAAC_HOOK_FAILPOINT=dns-sent): BIND
//     applied it, and poststop withdraws it.
// (c) Optimistic DAD's background process, probing the replacement of a duplicate while poststop
//     runs and holding the container's netns after the runtime let it go: it changes nothing after
//     poststop — no address in the netns it holds, no DNS record, no state file.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { dig, reverseName } from '../../vm/lab/dns';
import { fakeContainer, runHook, stateFiles } from '../../vm/lab/fake-container';
import type { ContainerRecord } from '../../runtime/core/record';
import { stableAddress } from '../../runtime/core/iid';
import { formatIPv6, parsePrefix } from '../../runtime/core/ipv6';
import { StateStore } from '../../runtime/system/state-store';

const PREFIX = '2001:db8:c1::/64';
const HOST_NETNS = 'dnh-host';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-dnh-'));
const libDir = path.join(work, 'lib');
const secret = Buffer.alloc(32, 0x5d);
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), secret, { mode: 0o600 });
const HOOK_ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };

type DnsLab = Lab & { dnsAddr: string; dnsPort: number; dnsZone: string; dnsReverseZone: string; dnsKeyFile: string; dnsNetns: string; hostAddr: string };
let lab: DnsLab;

t.before(async () => {
  const up = await labUp({
    LAB_NAME: 'dnh',
    LAB_HOST_NETNS: HOST_NETNS,
    LAB_PREFIX: PREFIX,
    LAB_ROUTER_ADDR: '2001:db8:c1::1',
    LAB_PEER_ADDR: '2001:db8:c1::100',
    LAB_RDNSS: '2001:db8:c1::53',
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:c1::53',
    LAB_HOST_ADDR: '2001:db8:c1::2/64',
  });
  const { dnsAddr, dnsPort, dnsZone, dnsReverseZone, dnsKeyFile, dnsNetns, hostAddr } = up;
  if (!dnsAddr || !dnsPort || !dnsZone || !dnsReverseZone || !dnsKeyFile || !dnsNetns || !hostAddr) throw new Error('the lab has no DNS server in a netns, or no host address');
  lab = { ...up, dnsAddr, dnsPort, dnsZone, dnsReverseZone, dnsKeyFile, dnsNetns, hostAddr };
});
t.teardown(async () => {
  await run('nft', ['delete', 'table', 'inet', 'dnh_drop'], { netns: lab?.dnsNetns }).catch(() => undefined);
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

/** A config of its own (and a state dir of its own) for one test. */
function config(name: string, extra: string[] = []): { file: string; stateDir: string } {
  const stateDir = path.join(work, `state-${name}`);
  const file = path.join(work, `${name}.toml`);
  fs.writeFileSync(
    file,
    [
      `parent = ${JSON.stringify(lab.hostIf)}`,
      `state_dir = ${JSON.stringify(stateDir)}`,
      'ra_timeout_ms = 5000',
      ...extra,
      '[dns]',
      `server = ${JSON.stringify(`[${lab.dnsAddr}]:${lab.dnsPort}`)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      `reverse_zone = ${JSON.stringify(lab.dnsReverseZone)}`,
      `key_file = ${JSON.stringify(lab.dnsKeyFile)}`,
      'ttl = 60',
      'timeout_ms = 500',
      'required = false',
    ].join('\n') + '\n',
  );
  return { file, stateDir };
}

const hook = (stage: string, state: string, configFile: string, env: Record<string, string> = {}) =>
  runHook(stage, state, { config: configFile, hostNetns: HOST_NETNS, env: { ...HOOK_ENV, ...env }, timeoutMs: 30_000 });

const candidate = (name: string, n = 0): string => formatIPv6(stableAddress({ prefix: parsePrefix(PREFIX).address, prefixLength: 64, name, networkId: '', dadCounter: n, secret }).address);
const readState = (stateDir: string, id: string): ContainerRecord | undefined => new StateStore(stateDir).read(id);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(what: string, ok: () => Promise<boolean> | boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Drop whatever the DNS server's netns sends from port 53 to the host: the server applies updates, its replies are lost. */
async function dropReplies(on: boolean): Promise<void> {
  const rules = on
    ? `table inet dnh_drop {\n chain out {\n  type filter hook output priority 0; policy accept;\n  ip6 daddr ${lab.hostAddr} udp sport ${lab.dnsPort} drop\n  ip6 daddr ${lab.hostAddr} tcp sport ${lab.dnsPort} drop\n }\n}\n`
    : 'delete table inet dnh_drop\n';
  const r = await run('nft', ['-f', '-'], { netns: lab.dnsNetns, input: rules });
  if (r.code !== 0) throw new Error(`nft: ${r.stderr.trim()}`);
}

t.test('(a) the server applied the update, its reply was lost: pending, served, and withdrawn at poststop', async (t) => {
  const name = 'dnh-lost';
  const address = candidate(name);
  const { file, stateDir } = config('lost');
  const c = await fakeContainer({ id: 'dnh-lost', netns: 'dnh-c-lost', dir: work, annotations: { 'oci-slaac-hook.name': name } });
  t.teardown(c.remove);
  await dropReplies(true);
  let dropping = true;
  t.teardown(async () => {
    if (dropping) await dropReplies(false);
  });

  const r = await hook('createRuntime', c.state('creating'), file);
  t.equal(r.code, 0, `the container starts (${r.stderr.trim()})`);
  t.match(r.stderr, /DNS update of .*: TIMEOUT .*the outcome is unknown/, 'the log says the outcome is unknown');
  const rec = readState(stateDir, c.id);
  t.equal(rec?.dns?.status, 'pending', 'its record is pending');
  t.match(
    rec?.dns?.records.map((x) => [x.type, x.published, x.uncertain ?? false]),
    [
      ['AAAA', false, true],
      ['PTR', false, false],
    ],
    'the AAAA kept as possibly published; the PTR known unpublished (its zone\'s update never sent after the first failed)',
  );
  t.same(await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA'), [address], 'BIND serves the AAAA all the same');
  t.same(await dig(lab, reverseName(address), 'PTR'), [], 'and no PTR');

  // While the server still cannot be heard, poststop cannot know it withdrew them: it says so.
  const blind = await hook('poststop', c.state('stopped'), file);
  t.equal(blind.code, 1, 'poststop fails while no reply comes back');
  t.match(blind.stderr, /TIMEOUT.*run poststop again to retry/, blind.stderr.trim());
  t.notMatch(blind.stderr, /withdrawn/, 'and does not claim to have withdrawn anything');
  t.equal(readState(stateDir, c.id)?.dns?.status, 'withdraw-failed', 'the record is kept for the retry');

  await dropReplies(false);
  dropping = false;
  const stop = await hook('poststop', c.state('stopped'), file);
  t.equal(stop.code, 0, `poststop exits 0 (${stop.stderr.trim()})`);
  t.match(stop.stderr, /withdrawn/);
  t.same(await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA'), [], 'the AAAA is gone');
  t.same(await dig(lab, reverseName(address), 'PTR'), [], 'the PTR is gone');
  t.same(stateFiles(stateDir), [], 'no state file');
});

t.test('(b) SIGKILL right after the update left (failpoint dns-sent): poststop withdraws what BIND applied', async (t) => {
  const name = 'dnh-kill';
  const address = candidate(name);
  const { file, stateDir } = config('kill');
  const c = await fakeContainer({ id: 'dnh-kill', netns: 'dnh-c-kill', dir: work, annotations: { 'oci-slaac-hook.name': name } });
  t.teardown(c.remove);

  const r = await hook('createRuntime', c.state('creating'), file, { OCI_SLAAC_HOOK_FAILPOINT: 'dns-sent' });
  t.equal(r.signal, 'SIGKILL', `the hook died by SIGKILL (${r.stderr.trim() || 'no output'})`);
  t.notOk(r.timedOut, 'killed by itself at the failpoint');
  const rec = readState(stateDir, c.id);
  t.equal(rec?.phase, 'attaching');
  t.ok(rec?.ledger.some((e) => e.kind === 'dns'), 'the ledger holds the DNS effect');
  t.ok(rec?.dns?.records.length === 2 && rec.dns.records.every((x) => x.uncertain && !x.published), 'its records saved as possibly published before the update left');
  await until('BIND to apply the update', async () => (await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA')).includes(address), 5000);
  t.same(await dig(lab, reverseName(address), 'PTR'), [], 'the reverse zone was not reached (one update per zone)');

  const stop = await hook('poststop', c.state('stopped'), file);
  t.equal(stop.code, 0, `poststop exits 0 (${stop.stderr.trim()})`);
  t.notMatch(stop.stderr, /withdraw:|failed|error/i, 'poststop reports no failure');
  t.same(await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA'), [], 'the AAAA is gone');
  t.same(await dig(lab, reverseName(address), 'PTR'), [], 'no PTR');
  t.same(stateFiles(stateDir), [], 'no state file');
  t.same((await c.links()).filter((l) => !/^\d+: lo:/.test(l)), [], 'no link left');
});

/** The background DAD process of container `id` (the hook's detached copy of itself), if running. */
function backgroundPid(id: string): number | undefined {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv.includes('__complete-dad') && argv.includes(id)) return Number(entry);
  }
  return undefined;
}

t.test('(c) poststop while the background DAD probes a replacement: it changes nothing afterwards', async (t) => {
  const name = 'dnh-opt';
  const [c0, c1] = [candidate(name, 0), candidate(name, 1)];
  // 3 transmits of the lab's 1 s RetransTimer: the replacement's DAD takes 3 s, poststop comes within it.
  const { file, stateDir } = config('opt', ['dad = "optimistic"', 'dad_transmits = 3']);
  await run('ip', ['-n', lab.peerNetns, 'addr', 'add', `${c0}/64`, 'dev', lab.peerIf, 'nodad']);
  t.teardown(() => run('ip', ['-n', lab.peerNetns, 'addr', 'del', `${c0}/64`, 'dev', lab.peerIf]).then(() => undefined));
  const c = await fakeContainer({ id: 'dnh-opt', netns: 'dnh-c-opt', dir: work, annotations: { 'oci-slaac-hook.name': name } });
  t.teardown(c.remove);
  // Something else keeps the netns alive once the runtime lets it go (as the background process's fd does): we look into it through this.
  const keeper = spawn('ip', ['netns', 'exec', c.netns, 'sleep', '120'], { stdio: 'ignore' });
  t.teardown(() => void keeper.kill('SIGKILL'));
  await until('the keeper to enter the netns', async () => (await run('ip', ['netns', 'pids', c.netns])).stdout.trim() !== '', 5000);
  const keeperPid = (await run('ip', ['netns', 'pids', c.netns])).stdout.trim().split('\n')[0] ?? '';
  const heldAddresses = async () => (await run('nsenter', ['-t', keeperPid, '-n', 'ip', '-6', '-o', 'addr', 'show', 'scope', 'global'])).stdout.split('\n').filter((l) => l.trim() !== '').map((l) => l.split(/\s+/)[3]).sort();

  const r = await hook('createRuntime', c.state('creating'), file);
  t.equal(r.code, 0, r.stderr.trim());
  t.same(await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA'), [c0], 'published at once, before DAD');
  await until('the background process', () => backgroundPid(c.id) !== undefined, 5000);
  const bg = backgroundPid(c.id) as number;
  // It finds the peer's copy of c0, withdraws it, and probes c1 (3 s).
  await until('the duplicate withdrawn', async () => !(await heldAddresses()).includes(`${c0}/64`), 5000);
  t.ok(fs.existsSync(`/proc/${bg}`), 'the background process is still at work (probing the replacement)');

  await c.remove(); // the runtime lets the netns go: poststop cannot open it; the background process still holds it
  const stop = await hook('poststop', c.state('stopped'), file);
  t.equal(stop.code, 0, `poststop exits 0 (${stop.stderr.trim()})`);
  t.match(stop.stderr, /\(link gone\)/);
  const afterPoststop = await heldAddresses();
  t.ok(fs.existsSync(`/proc/${bg}`), 'poststop ended while the background process was still running');

  await until('the background process to exit', () => !fs.existsSync(`/proc/${bg}`), 15_000);
  t.same(await heldAddresses(), afterPoststop, 'the netns it held gained no address after poststop');
  t.notOk((await heldAddresses()).includes(`${c1}/64`), 'no replacement address installed');
  t.same(await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA'), [], 'no AAAA');
  t.same(await dig(lab, reverseName(c0), 'PTR'), [], 'no PTR for the first candidate');
  t.same(await dig(lab, reverseName(c1), 'PTR'), [], 'no PTR for the replacement');
  t.same(stateFiles(stateDir), [], 'no state file came back');
  const locks = fs.existsSync(path.join(stateDir, 'locks')) ? fs.readdirSync(path.join(stateDir, 'locks')).filter((f) => f.startsWith('c-')) : [];
  t.same(locks, [], 'no container lock file left');
});
