// The CNI plugin driven directly, as a runtime drives it (CNI_* in the environment, the network
// config on stdin, the result on stdout), on bare network namespaces of the lab `cnd`
// (2001:db8:c6::/64, netns cnd-*): VERSION; ADD (a usable address before it returns, the router
// reaches it, the result names it); CHECK (ok, then the difference once the address is deleted by
// hand); DEL twice; the same pod name, the same address; the pod's DNS name (BIND); chained after
// a plugin that made eth0;
// GC (1.1) with a valid list and with an empty one; malformed config or CNI_ARGS: an error result
// (code and msg) and nothing left; the agent keeping a CNI attachment alive and collecting one
// whose netns went without DEL; STATUS (1.1) with the router up and stopped.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, run, type RunResult } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { HOOK_CLI } from '../../vm/lab/fake-container';
import { dig, reverseName } from '../../vm/lab/dns';
import { stopRadvd } from './ra-router';

t.setTimeout(300_000);

const CNI = path.join(REPO_ROOT, 'dist', 'oci-slaac-cni.js');
const PREFIX = '2001:db8:c6::/64';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-cnd-'));
const libDir = path.join(work, 'lib');
const stateDir = path.join(work, 'state');
const config = path.join(work, 'config.toml');
const dnsConfig = path.join(work, 'dns.toml');
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0x43), { mode: 0o600 });
const ENV = { OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
const NETNS = ['cnd-a', 'cnd-b', 'cnd-b2', 'cnd-ch', 'cnd-g1', 'cnd-g2', 'cnd-g3', 'cnd-bad', 'cnd-ag1', 'cnd-ag2', 'cnd-opt'];

let lab: Lab;
let agent: ChildProcess | undefined;

const netconf = (extra: Record<string, unknown> = {}, name = 'slaacnet'): string => JSON.stringify({ cniVersion: '1.0.0', name, type: 'slaac', config, ...extra });

interface Invocation extends RunResult {
  json: Record<string, unknown> | undefined;
}

/** One plugin run: CNI_* from `vars`, `stdin` as the network config. */
async function cni(command: string, vars: Record<string, string>, stdin: string): Promise<Invocation> {
  const r = await run('env', ['-u', 'NODE_OPTIONS', process.execPath, CNI], { baseEnv: { PATH: process.env.PATH ?? '', ...ENV, CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin', ...vars }, input: stdin, timeoutMs: 30_000 });
  let json: Record<string, unknown> | undefined;
  try {
    json = r.stdout.trim() ? (JSON.parse(r.stdout) as Record<string, unknown>) : undefined;
  } catch {
    json = undefined;
  }
  return { ...r, json };
}

const vars = (netns: string, id: string, ifname = 'eth0', args = 'IgnoreUnknown=1'): Record<string, string> => ({ CNI_CONTAINERID: id, CNI_NETNS: `/run/netns/${netns}`, CNI_IFNAME: ifname, CNI_ARGS: args });

async function ip(args: string[]): Promise<string> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const linksIn = async (netns: string): Promise<string[]> =>
  (await ip(['-n', netns, '-o', 'link', 'show'])).split('\n').filter(Boolean).map((l) => (l.split(': ')[1] ?? '').split('@')[0] ?? '').sort();
const records = async (): Promise<{ id: string; name: string; interface: { name: string } }[]> => {
  const r = await run('env', ['-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'status', '--config', config, '--json'], { baseEnv: { PATH: process.env.PATH ?? '', ...ENV } });
  return JSON.parse(r.stdout) as { id: string; name: string; interface: { name: string } }[];
};
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const addressOf = (res: Invocation, i = 0): string => ((res.json?.ips as { address: string }[] | undefined)?.[i]?.address ?? '').split('/')[0] ?? '';

t.before(async () => {
  lab = await labUp({
    LAB_NAME: 'cnd',
    LAB_PREFIX: PREFIX,
    LAB_ROUTER_ADDR: '2001:db8:c6::1',
    LAB_PEER_ADDR: '2001:db8:c6::100',
    LAB_VALID_LIFETIME: '20',
    LAB_PREFERRED_LIFETIME: '15',
    LAB_ROUTER_LIFETIME: '30',
    LAB_RA_INTERVAL: '4',
    LAB_RA_MIN_INTERVAL: '3',
    LAB_RETRANS_MS: '200',
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:c6::53',
    LAB_HOST_ADDR: '2001:db8:c6::2/64',
  });
  fs.writeFileSync(
    dnsConfig,
    [
      `parent = ${JSON.stringify(lab.hostIf)}`,
      `state_dir = ${JSON.stringify(stateDir)}`,
      '[dns]',
      `server = ${JSON.stringify(`[${lab.dnsAddr}]:${lab.dnsPort}`)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      `reverse_zone = ${JSON.stringify(lab.dnsReverseZone)}`,
      `key_file = ${JSON.stringify(lab.dnsKeyFile)}`,
      'ttl = 60',
      'timeout_ms = 1000',
      'required = true',
    ].join('\n') + '\n',
  );
  fs.writeFileSync(config, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\ngc_interval_ms = 1000\n`);
  for (const n of NETNS) await run('ip', ['netns', 'del', n]);
  for (const n of NETNS) await ip(['netns', 'add', n]);
});
t.teardown(async () => {
  agent?.kill('SIGTERM');
  for (const n of NETNS) await run('ip', ['netns', 'del', n]);
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

t.test('VERSION: 1.0.0 and 1.1.0, the asked version echoed', async (t) => {
  const r = await cni('VERSION', {}, JSON.stringify({ cniVersion: '1.0.0' }));
  t.equal(r.code, 0);
  t.same(r.json, { cniVersion: '1.0.0', supportedVersions: ['1.0.0', '1.1.0'] });
  const old = await cni('VERSION', {}, JSON.stringify({ cniVersion: '0.4.0' }));
  t.equal(old.code, 0, 'an older version asked: answered, the runtime decides');
  t.equal(old.json?.cniVersion, '0.4.0');
  const v = await run('env', ['-u', 'NODE_OPTIONS', process.execPath, CNI, '--version']);
  t.match(v.stdout, /^oci-slaac-cni \d+\.\d+\.\d+ \(CNI 1\.0\.0, 1\.1\.0\)\n$/, `--version: ${v.stdout.trim()}`);
});

let firstAddress = '';
t.test('ADD: a usable address before it returns; CHECK; the router reaches it; DEL twice', async (t) => {
  const add = await cni('ADD', vars('cnd-a', 'ctr-a', 'eth0', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;K8S_POD_UID=u1'), netconf());
  t.equal(add.code, 0, `ADD succeeds: ${add.stdout}${add.stderr}`);
  // Read at once: nothing tentative — the address is usable the moment ADD returns.
  const addrs = await ip(['-n', 'cnd-a', '-6', 'addr', 'show', 'dev', 'eth0']);
  const address = addressOf(add);
  firstAddress = address;
  t.ok(address.startsWith('2001:db8:c6:0:'), `a global address from the RA's prefix: ${address}`);
  const line = addrs.split('\n').find((l) => l.includes(`inet6 ${address}/64 scope global`));
  t.ok(line, 'it is on eth0 in the container');
  t.notMatch(line ?? '', /tentative|optimistic|dadfailed/, `and neither tentative nor optimistic: ${line?.trim()}`);
  const ifs = add.json?.interfaces as { name: string; mac: string; sandbox: string }[];
  const mac = (await ip(['-n', 'cnd-a', '-o', 'link', 'show', 'eth0'])).match(/link\/ether (\S+)/)?.[1];
  t.same(ifs, [{ name: 'eth0', mac, sandbox: '/run/netns/cnd-a' }], 'interfaces: eth0 with its MAC and sandbox');
  const ips = add.json?.ips as { address: string; gateway: string; interface: number }[];
  t.equal(ips.length, 1);
  t.equal(ips[0]?.address, `${address}/64`, 'ips: the address with its prefix length');
  t.match(ips[0]?.gateway, /^fe80::/, 'gateway: the router (link-local)');
  t.equal(ips[0]?.interface, 0);
  t.ok((add.json?.routes as { dst: string }[]).some((r) => r.dst === '::/0'), 'routes: the default route');
  t.same(add.json?.dns, { nameservers: lab.config.rdnss, search: lab.config.dnssl }, 'dns: the RA\'s RDNSS and DNSSL');
  t.equal(add.json?.cniVersion, '1.0.0');
  const rec = (await records()).find((r) => r.id === 'ctr-a+eth0');
  t.equal(rec?.name, 'web-0.shop', 'stable name from K8S_POD_NAME and K8S_POD_NAMESPACE');

  const ping = await run('ping', ['-6', '-c', '1', '-W', '2', address], { netns: lab.routerNetns });
  t.equal(ping.code, 0, 'the router reaches it');

  const ok = await cni('CHECK', vars('cnd-a', 'ctr-a', 'eth0', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0'), netconf({ prevResult: add.json }));
  t.equal(ok.code, 0, `CHECK: ok (${ok.stdout})`);
  t.equal(ok.stdout, '', 'no output');
  await ip(['-n', 'cnd-a', 'addr', 'del', `${address}/64`, 'dev', 'eth0']);
  const bad = await cni('CHECK', vars('cnd-a', 'ctr-a', 'eth0', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0'), netconf({ prevResult: add.json }));
  t.equal(bad.code, 1, 'CHECK after the address was deleted by hand: fails');
  t.equal(bad.json?.code, 100);
  t.match(bad.json?.msg, `address ${address}/64 on eth0 is missing`, `the difference named: ${String(bad.json?.msg)}`);

  const del = await cni('DEL', vars('cnd-a', 'ctr-a'), netconf({ prevResult: add.json }));
  t.equal(del.code, 0, 'DEL');
  t.same(await linksIn('cnd-a'), ['lo'], 'the link is gone');
  t.notOk((await records()).some((r) => r.id === 'ctr-a+eth0'), 'the record is gone');
  const again = await cni('DEL', vars('cnd-a', 'ctr-a'), netconf());
  t.equal(again.code, 0, 'DEL again: success');
  const never = await cni('DEL', { CNI_CONTAINERID: 'never-seen', CNI_IFNAME: 'eth0' }, netconf());
  t.equal(never.code, 0, 'DEL of an id never seen, with no CNI_NETNS: success');
  const unknown = await cni('CHECK', vars('cnd-a', 'ctr-a'), netconf());
  t.equal(unknown.json?.code, 3, 'CHECK of an attachment deleted: unknown container (3)');
});

t.test('the same pod name again: the same address; DEL after the netns went', async (t) => {
  const add = await cni('ADD', vars('cnd-b', 'ctr-b', 'net1', 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0'), netconf());
  t.equal(add.code, 0, add.stderr);
  t.equal(addressOf(add), firstAddress, `another container id, netns and interface name, the same pod: ${firstAddress}`);
  t.same(await linksIn('cnd-b'), ['lo', 'net1'], 'the interface is CNI_IFNAME');
  // The runtime deleted the netns before DEL (or DEL comes late): success, the record goes.
  await ip(['netns', 'del', 'cnd-b']);
  const del = await cni('DEL', vars('cnd-b', 'ctr-b', 'net1'), netconf());
  t.equal(del.code, 0, `DEL with the netns already gone: success ${del.stdout}`);
  t.notOk((await records()).some((r) => r.id === 'ctr-b+net1'), 'and the record is gone');
});

t.test('the DNS label follows the pod: <pod>.<namespace>.<zone>, AAAA and PTR, withdrawn at DEL', async (t) => {
  const args = 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=cart-1';
  const add = await cni('ADD', vars('cnd-b2', 'dns-1', 'eth0', args), netconf({ config: dnsConfig }));
  t.equal(add.code, 0, add.stderr);
  const address = addressOf(add);
  const owner = `cart-1.shop.${lab.dnsZone ?? ''}`;
  t.same(await dig(lab, owner, 'AAAA'), [address], `AAAA ${owner} → ${address}`);
  t.same(await dig(lab, reverseName(address), 'PTR'), [`${owner}.`], 'and its PTR');
  t.equal((await cni('DEL', vars('cnd-b2', 'dns-1', 'eth0', args), netconf({ config: dnsConfig }))).code, 0, 'DEL');
  t.same(await dig(lab, owner, 'AAAA'), [], 'AAAA withdrawn');
  t.same(await dig(lab, reverseName(address), 'PTR'), [], 'PTR withdrawn');
});

t.test('chained after a plugin that made eth0: ours is eth1, the previous result passes through', async (t) => {
  await ip(['-n', 'cnd-ch', 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'other0']);
  await ip(['-n', 'cnd-ch', 'addr', 'add', '10.88.0.5/16', 'dev', 'eth0']);
  const prev = {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'cni-podman0', mac: '02:00:00:00:00:01' }, { name: 'eth0', mac: '02:00:00:00:00:02', sandbox: '/run/netns/cnd-ch' }],
    ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 1 }],
    routes: [{ dst: '0.0.0.0/0' }],
    dns: { nameservers: ['10.88.0.1'] },
  };
  const add = await cni('ADD', vars('cnd-ch', 'ctr-ch'), netconf({ prevResult: prev }, 'chained'));
  t.equal(add.code, 0, add.stderr);
  t.same(await linksIn('cnd-ch'), ['eth0', 'eth1', 'lo', 'other0'], 'eth0 kept, ours beside it as eth1');
  const ifs = add.json?.interfaces as { name: string }[];
  t.same(ifs.map((i) => i.name), ['cni-podman0', 'eth0', 'eth1'], 'interfaces: the previous ones, then ours');
  const ips = add.json?.ips as { address: string; interface: number }[];
  t.same(ips[0], prev.ips[0], 'the previous IPv4 kept');
  t.equal(ips[1]?.interface, 2, 'ours points at eth1');
  t.same((add.json?.dns as { nameservers: string[] }).nameservers, ['10.88.0.1', ...lab.config.rdnss], 'name servers: the previous, then the RA\'s');
  t.same((add.json?.routes as { dst: string }[])[0], { dst: '0.0.0.0/0' });
  const del = await cni('DEL', vars('cnd-ch', 'ctr-ch'), netconf({ prevResult: add.json }, 'chained'));
  t.equal(del.code, 0);
  t.same(await linksIn('cnd-ch'), ['eth0', 'lo', 'other0'], 'DEL removes ours only');
});

t.test('GC: attachments not in the valid list are removed, others kept', async (t) => {
  const a1 = await cni('ADD', vars('cnd-g1', 'gc-1'), netconf({}, 'gcnet'));
  const a2 = await cni('ADD', vars('cnd-g2', 'gc-2'), netconf({}, 'gcnet'));
  const other = await cni('ADD', vars('cnd-g3', 'gc-3'), netconf({}, 'othernet'));
  t.ok(a1.code === 0 && a2.code === 0 && other.code === 0, `three attachments, two networks ${a1.stdout}${a2.stdout}${other.stdout}`);
  const gc = (valid: { containerID: string; ifname: string }[]): Promise<Invocation> => cni('GC', {}, netconf({ 'cni.dev/valid-attachments': valid }, 'gcnet'));
  const keep1 = await gc([{ containerID: 'gc-1', ifname: 'eth0' }]);
  t.equal(keep1.code, 0, `GC keeping gc-1: ${keep1.stdout}`);
  t.same((await records()).map((r) => r.id).sort(), ['gc-1+eth0', 'gc-3+eth0'], 'gc-2 removed; othernet\'s gc-3 untouched');
  t.same(await linksIn('cnd-g2'), ['lo'], 'its link gone');
  t.same(await linksIn('cnd-g3'), ['eth0', 'lo'], "othernet's kept");
  const none = await gc([]);
  t.equal(none.code, 0, 'GC with an empty valid list');
  t.same((await records()).map((r) => r.id), ['gc-3+eth0'], 'the leftover gc-1 removed');
  t.same(await linksIn('cnd-g1'), ['lo']);
  const noList = await cni('GC', {}, netconf({}, 'othernet'));
  t.equal(noList.json?.code, 7, 'GC without a valid list: refused (7), nothing removed');
  t.equal((await records()).length, 1);
  t.equal((await cni('DEL', vars('cnd-g3', 'gc-3'), netconf({}, 'othernet'))).code, 0);
});

t.test('malformed network config or CNI_ARGS: an error result, nothing left', async (t) => {
  const cases: [string, Record<string, string>, string, number, RegExp][] = [
    ['not JSON', vars('cnd-bad', 'bad-1'), '{"cniVersion": "1.0.0", ', 6, /not valid JSON/],
    ['an unknown key', vars('cnd-bad', 'bad-2'), netconf({ colour: 'blue' }), 2, /unsupported field "colour"/],
    ['ipam', vars('cnd-bad', 'bad-3'), netconf({ ipam: { type: 'host-local' } }), 2, /"ipam"/],
    ['a value out of range', vars('cnd-bad', 'bad-4'), netconf({ dad_transmits: 99 }), 7, /dad_transmits must be an integer in/],
    ['a mode not one of ours', vars('cnd-bad', 'bad-5'), netconf({ mode: 'bridge' }), 7, /mode must be one of macvlan, ipvlan/],
    ['cniVersion 0.3.1', vars('cnd-bad', 'bad-6'), netconf({ cniVersion: '0.3.1' }), 1, /cniVersion "0.3.1"/],
    ['CNI_ARGS without "="', vars('cnd-bad', 'bad-7', 'eth0', 'K8S_POD_NAME'), netconf(), 4, /CNI_ARGS: "K8S_POD_NAME" is not KEY=VALUE/],
    ['CNI_ARGS with an unknown key', vars('cnd-bad', 'bad-8', 'eth0', 'FOO=bar'), netconf(), 4, /unknown key "FOO"/],
    ['no CNI_NETNS', { CNI_CONTAINERID: 'bad-9', CNI_IFNAME: 'eth0' }, netconf(), 4, /CNI_NETNS is required for ADD/],
    ['a netns that does not exist', vars('cnd-nope', 'bad-10'), netconf(), 7, /cnd-nope/],
    ['an interface name taken', vars('cnd-bad', 'bad-11', 'lo'), netconf(), 7, /interface lo already exists/],
    ['a bad policy value', vars('cnd-bad', 'bad-13'), netconf({ policy: { policy: 'restricted', expose: 'tcp:99999' } }), 7, /expose: .*port 99999 is not in 1\.\.65535/],
    ['a parent that does not exist', vars('cnd-bad', 'bad-12'), netconf({ parent: 'cnd-nonic' }), 7, /parent interface "cnd-nonic" does not exist/],
  ];
  for (const [what, env, stdin, code, msg] of cases) {
    const r = await cni('ADD', env, stdin);
    t.equal(r.code, 1, `${what}: exit 1`);
    t.equal(r.json?.code, code, `${what}: code ${code}`);
    t.match(r.json?.msg, msg, `${what}: ${String(r.json?.msg)}`);
    t.notMatch(String(r.json?.msg), /\n/, 'one line');
  }
  t.same(await linksIn('cnd-bad'), ['lo'], 'no link left in the netns');
  t.same(await records(), [], 'no record left');
  const hostLinks = await ip(['-o', 'link', 'show']);
  t.notMatch(hostLinks, /\bosh[0-9a-f]{10}\b/, 'no half-made link left in the host');
});

t.test('optimistic, from the network config: ADD returns before DAD ends', async (t) => {
  const add = await cni('ADD', vars('cnd-opt', 'opt-1'), netconf({ dad: 'optimistic' }));
  t.equal(add.code, 0, add.stderr);
  t.match(add.stderr, /total \d+(\.\d)? ms/);
  const total = Number(/total (\d+(?:\.\d)?) ms/.exec(add.stderr)?.[1]);
  t.ok(total < 900, `attached in ${total} ms, less than one DAD of the link-local (1000 ms)`);
  t.equal((await cni('DEL', vars('cnd-opt', 'opt-1'), netconf())).code, 0);
});

t.test('"policy" in the network config: the attachment is restricted', async (t) => {
  const add = await cni('ADD', vars('cnd-opt', 'pol-1'), netconf({ policy: { policy: 'restricted', expose: 'tcp:8080' } }));
  t.equal(add.code, 0, add.stderr);
  const nft = await run('nft', ['list', 'table', 'inet', 'oci_slaac_hook'], { netns: 'cnd-opt' });
  t.equal(nft.code, 0, 'its firewall table is there');
  t.match(nft.stdout, /tcp dport 8080 accept/, 'exposing tcp:8080');
  const status = await run('env', ['-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'status', '--config', config], { baseEnv: { PATH: process.env.PATH ?? '', ...ENV } });
  t.match(status.stdout, /restricted; expose tcp:8080/, 'status shows the policy');
  t.equal((await cni('DEL', vars('cnd-opt', 'pol-1'), netconf())).code, 0);
  t.equal((await run('nft', ['list', 'table', 'inet', 'oci_slaac_hook'], { netns: 'cnd-opt' })).code, 1, 'DEL removed the table');
});

t.test('the agent keeps a CNI attachment alive, and collects one whose netns went without DEL', async (t) => {
  agent = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', config], { env: { PATH: process.env.PATH ?? '', ...ENV }, stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  agent.stderr?.setEncoding('utf8').on('data', (s: string) => (log += s));
  for (let i = 0; i < 50 && !fs.existsSync(path.join(stateDir, 'agent.sock')); i++) await sleep(100);
  const a = await cni('ADD', vars('cnd-ag1', 'ag-1'), netconf());
  const b = await cni('ADD', vars('cnd-ag2', 'ag-2'), netconf());
  t.ok(a.code === 0 && b.code === 0, 'two attachments with the agent running');
  // The RA's valid lifetime is 20 s: without a refresh the kernel's count would be at most 11 s left after 9 s.
  await sleep(9000);
  const addr = await ip(['-n', 'cnd-ag1', '-6', 'addr', 'show', 'dev', 'eth0', 'scope', 'global']);
  const valid = Number(/valid_lft (\d+)sec/.exec(addr)?.[1]);
  t.ok(valid >= 14, `valid_lft ${valid} s after 9 s: the agent renewed it from the RAs (lifetime 20 s)`);
  await ip(['netns', 'del', 'cnd-ag2']);
  let gone = false;
  for (let i = 0; i < 100 && !gone; i++) {
    await sleep(100);
    gone = !(await records()).some((r) => r.id === 'ag-2+eth0');
  }
  t.ok(gone, 'the agent collected ag-2 (its netns deleted without DEL)');
  t.match(log, /ag-2\+eth0/, 'and said so');
  t.equal((await cni('DEL', vars('cnd-ag1', 'ag-1'), netconf())).code, 0);
  agent.kill('SIGTERM');
  await new Promise((r) => agent?.once('exit', r));
  agent = undefined;
});

t.test('STATUS: ready with the router up; 50 with it stopped, 51 with attachments on the parent', async (t) => {
  const up = await cni('STATUS', {}, netconf({ cniVersion: '1.1.0' }));
  t.equal(up.code, 0, `STATUS with the router advertising: ready (${up.stderr.trim()})`);
  const st = await cni('ADD', vars('cnd-a', 'st-1'), netconf());
  t.equal(st.code, 0, 'an attachment on the parent');
  await stopRadvd(lab);
  const limited = await cni('STATUS', {}, netconf({ cniVersion: '1.1.0', ra_timeout_ms: 2000 }));
  t.equal(limited.json?.code, 51, `router stopped, an attachment on the parent: 51 (${String(limited.json?.msg)})`);
  t.match(limited.json?.msg, /1 attachment on .* may lose their router/);
  t.equal((await cni('DEL', vars('cnd-a', 'st-1'), netconf())).code, 0);
  const down = await cni('STATUS', {}, netconf({ cniVersion: '1.1.0', ra_timeout_ms: 2000 }));
  t.equal(down.code, 1, 'router stopped: not ready');
  t.equal(down.json?.code, 50, 'code 50');
  t.match(down.json?.msg, new RegExp(`parent ${lab.hostIf}: `), String(down.json?.msg));
  t.equal(down.json?.cniVersion, '1.1.0');
  const noParent = await cni('STATUS', {}, netconf({ cniVersion: '1.1.0', parent: '' }));
  t.equal(noParent.json?.code, 50, 'no parent configured: 50');
  t.match(noParent.json?.msg, /no parent interface configured/);
});
