// The CNI plugin (dist/oci-slaac-cni.js, type "slaac") under real podman 4.3 (CNI backend, root) in
// the lab: the container's first process finds its SLAAC address usable, the router reaches it,
// `podman inspect` shows it, `podman rm -f` leaves nothing, the same --name gets the same address;
// and alongside podman's own bridge network (bridge eth0, ours eth1).
//
// Recipe, measured here with podman 4.3.1 and a recording stand-in plugin (a shell script):
// - Private plugin dir: containers.conf `[network] network_backend = "cni"`,
//   `cni_plugin_dirs = [DIR, "/usr/lib/cni"]` in a file named by CONTAINERS_CONF. CONTAINERS_CONF
//   REPLACES the system files (/usr/share/containers/containers.conf, /etc/containers/
//   containers.conf{,.d} are not even opened; built-in defaults apply). The list replaces the
//   default plugin path: keep /usr/lib/cni in it or podman's bridge network (bridge, portmap,
//   firewall, tuning) is not found. CNI_PATH given to plugins is that list joined by ':'.
// - Private network configs: global `--network-config-dir DIR` (podman writes DIR/cni.lock).
//   `podman network ls` then shows the conflists of DIR plus the default "podman" bridge network,
//   made in memory (cni-podman0, 10.88.0.0/16) when DIR has none. conmon's cleanup (`podman
//   container cleanup` when the process exits by itself) is given the same flag: its DEL works.
// - libcni still caches results in /var/lib/cni/results/<net>-<ctr id>-<ifname> (podman 4.3 sets
//   no cache dir); removed at DEL.
// - The plugin dir entry may be a symlink to the node script (`#!/usr/bin/env node`: node is
//   found on the PATH podman was given).
// - podman passes the plugin its own whole environment (PATH, HOME, CONTAINERS_CONF, and
//   NODE_OPTIONS if set: under tap, whose processinfo puts NODE_OPTIONS back into every child's
//   env, exec podman through `env -u NODE_OPTIONS`) plus CNI_COMMAND, CNI_CONTAINERID (64 hex
//   podman id), CNI_NETNS (/run/netns/netns-<uuid>, made by podman before ADD, still there at
//   DEL), CNI_IFNAME (eth0, or as numbered below), CNI_PATH, and
//   CNI_ARGS=IgnoreUnknown=1;K8S_POD_NAME=<the --name>.
// - Verbs seen: VERSION (stdin {"cniVersion":"1.0.0"}, CNI_NETNS=CNI_IFNAME=CNI_PATH=dummy, empty
//   CNI_CONTAINERID) before every ADD and DEL; ADD at `podman run`; DEL at `podman rm -f` (and at
//   conmon's cleanup when the process exits; then `rm` calls nothing more); DEL right after a
//   failed ADD (stdin then has no prevResult; podman warns "network ... not found in CNI cache").
//   Never CHECK, STATUS or GC. ADD stdin: the conflist's plugin object with name and cniVersion
//   added ({"cniVersion","name","type",...our keys}); no runtimeConfig (no capabilities asked);
//   DEL stdin: the same plus prevResult = the ADD result as cached.
// - A failing ADD (exit != 0, error JSON on stdout): `podman run` exits 126 with
//   `Error: plugin type="slaac" failed (add): cni plugin slaac failed: <msg>: <details>`; the
//   plugin's stderr is not shown; the container is left "Created" (without --rm). An exit 0 with an
//   error object is taken as success with an empty result.
// - Interface names with several networks: podman 4.3 keeps them in a map and numbers eth0, eth1,
//   … in Go map order, not the order given: `--network podman,NET` gave ours eth1 in 29 of 32
//   starts, eth0 in 3 (podman issue #12850). Deterministic: name them,
//   `--network podman:interface_name=eth0 --network NET:interface_name=eth1` (32 of 32; one flag
//   each: in the comma form the second name is taken for an option of the first).
// - podman inspect: .NetworkSettings.Networks.<net>.{GlobalIPv6Address, GlobalIPv6PrefixLen,
//   IPv6Gateway (the ips[].gateway), MacAddress (the interface's mac)}, more addresses in
//   SecondaryIPv6Addresses; the top-level NetworkSettings.GlobalIPv6Address etc. stay empty.
//   An interface without "mac" fails the start: "Error: invalid MAC address" (exit 126). An ips
//   entry without "interface" is silently not shown (empty GlobalIPv6Address), as is a result with
//   no interfaces; an ips entry without gateway shows IPv6Gateway "<nil>". The interface name is
//   not checked against CNI_IFNAME, nor its existence in the netns.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, type RunResult } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { makeRootfs, podmanGlobalArgs, runtimeAvailable, PODMAN_DIR } from '../../vm/lab/containers';
import { installProbe, seen } from '../../vm/lab/probe';
import type { ContainerRecord } from '../../runtime/core/record';

const ROOT = path.join(__dirname, '..', '..');
const PLUGIN = path.join(ROOT, 'dist', 'oci-slaac-cni.js');
const CLI = path.join(ROOT, 'dist', 'oci-slaac-hook.js');
const NET = 'slaacnet-cnp';
const PREFIX = '2001:db8:c5::/64';
const STATE_DIR = '/run/osh-cnp';
const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-cnp-'));
const pluginDir = path.join(work, 'cni-plugins');
const netDir = path.join(work, 'net.d');
const libDir = path.join(work, 'lib');
const rootfs = path.join(work, 'rootfs');
const containersConf = path.join(work, 'containers.conf');
const configFile = path.join(work, 'config.toml');

let lab: Lab;
const made = new Set<string>();

/** podman with the helper's private storage, our network-config dir and containers.conf; no NODE_OPTIONS for our node plugin. */
const podmanEnv = {
  PATH: PATH_ENV,
  CONTAINERS_CONF: containersConf,
  NODE_OPTIONS: undefined,
  OCI_SLAAC_HOOK_STATE_LIB: libDir,
  OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock'),
};
const podmanArgs = (args: readonly string[]): string[] => [...podmanGlobalArgs(), '--network-config-dir', netDir, ...args];
// tap's processinfo puts NODE_OPTIONS back into every child's env: `env -u` it at the exec.
const podman = (args: readonly string[], timeoutMs = 60_000): Promise<RunResult> => run('env', ['-u', 'NODE_OPTIONS', 'podman', ...podmanArgs(args)], { env: podmanEnv, timeoutMs });

t.before(async () => {
  if (process.getuid?.() !== 0 || !(await runtimeAvailable('podman'))) return;
  if (!fs.existsSync(PLUGIN)) throw new Error(`${PLUGIN} is missing: npm run build:bundle makes it`);
  lab = await labUp({ LAB_NAME: 'cnp', LAB_PREFIX: PREFIX, LAB_ROUTER_ADDR: '2001:db8:c5::1', LAB_PEER_ADDR: '2001:db8:c5::100', LAB_RETRANS_MS: '300' });
  for (const d of [pluginDir, netDir, path.join(work, 'out'), ...['root', 'runroot', 'tmp'].map((x) => path.join(PODMAN_DIR, x))]) fs.mkdirSync(d, { recursive: true });
  fs.mkdirSync(libDir, { mode: 0o700 });
  fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0xc5), { mode: 0o600 });
  fs.symlinkSync(PLUGIN, path.join(pluginDir, 'slaac'));
  fs.writeFileSync(
    containersConf,
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
      '[network]',
      'network_backend = "cni"',
      `cni_plugin_dirs = [${JSON.stringify(pluginDir)}, "/usr/lib/cni"]`,
    ].join('\n') + '\n',
  );
  fs.writeFileSync(configFile, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(STATE_DIR)}\nra_timeout_ms = 5000\n`);
  fs.writeFileSync(
    path.join(netDir, `${NET}.conflist`),
    JSON.stringify({ cniVersion: '1.0.0', name: NET, plugins: [{ type: 'slaac', parent: lab.hostIf, config: configFile }] }, null, 2),
  );
  await makeRootfs(rootfs);
  installProbe(rootfs);
});

t.teardown(async () => {
  for (const name of made) await podman(['rm', '--force', '--time', '0', name]);
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(STATE_DIR, { recursive: true, force: true });
});

interface Started {
  name: string;
  id: string;
  pid: number;
  out: string;
  wallMs: number;
}

/** `podman run -d --name NAME --network N… … /bin/sh /probe.sh`; stdio to files (conmon inherits it). */
/** `networks`: one `--network` flag each. */
async function start(name: string, networks: string[], command = ['/bin/sh', '/probe.sh']): Promise<Started> {
  const out = path.join(work, 'out', `${name}-${made.size}`);
  fs.mkdirSync(out, { recursive: true });
  made.add(name);
  const args = podmanArgs(['run', '-d', '--name', name, ...networks.flatMap((n) => ['--network', n]), '--volume', `${out}:/out:rw`, '--rootfs', rootfs, ...command]);
  const log = path.join(out, 'podman');
  const t0 = Date.now();
  const r = await run('sh', ['-c', 'l=$1; shift; exec "$@" </dev/null >"$l.out" 2>"$l.err"', 'sh', log, 'env', '-u', 'NODE_OPTIONS', 'podman', ...args], { env: podmanEnv, timeoutMs: 60_000 });
  const wallMs = Date.now() - t0;
  const stderr = fs.readFileSync(`${log}.err`, 'utf8');
  if (r.code !== 0) throw new Error(`podman run ${name} failed (${r.code}): ${stderr.trim()}`);
  if (stderr.trim()) console.error(`# podman run ${name} said: ${stderr.trim()}`);
  const insp = await podman(['inspect', '--format', '{{.Id}} {{.State.Pid}}', name]);
  const m = /^([0-9a-f]{64}) (\d+)\s*$/.exec(insp.stdout);
  if (!m) throw new Error(`podman inspect ${name}: ${insp.stderr}${insp.stdout}`);
  return { name, id: m[1] ?? '', pid: Number(m[2]), out, wallMs };
}

async function remove(name: string): Promise<RunResult> {
  const r = await podman(['rm', '--force', '--time', '0', name]);
  made.delete(name);
  return r;
}

interface NetSettings {
  GlobalIPv6Address?: string;
  GlobalIPv6PrefixLen?: number;
  IPv6Gateway?: string;
  MacAddress?: string;
  IPAddress?: string;
  IPPrefixLen?: number;
}

async function inspectNetworks(name: string): Promise<Record<string, NetSettings>> {
  const r = await podman(['inspect', '--format', '{{json .NetworkSettings.Networks}}', name]);
  return r.code === 0 ? (JSON.parse(r.stdout) as Record<string, NetSettings>) : {};
}

/** The records `status --json` lists (our own CLI, without tap's NODE_OPTIONS). */
async function statusRecords(): Promise<ContainerRecord[]> {
  const r = await run('env', ['-u', 'NODE_OPTIONS', process.execPath, CLI, 'status', '--config', configFile, '--json'], { env: { OCI_SLAAC_HOOK_STATE_LIB: libDir } });
  if (r.code !== 0) throw new Error(`status --json failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as ContainerRecord[];
}

/** Every link in the root netns and every named netns that is ours for this container (its ifalias mark) or a macvlan on the lab NIC. */
async function linksOfOurs(containerId: string): Promise<string[]> {
  const nsList = (await run('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
  const found: string[] = [];
  for (const ns of ['', ...nsList]) {
    const r = await run('ip', [...(ns ? ['-n', ns] : []), '-d', '-o', 'link', 'show']);
    for (const line of r.stdout.split('\n')) {
      if (line.includes(containerId) || (!ns && line.includes(`@${lab.hostIf}:`))) found.push(`${ns || 'root'}: ${line.slice(0, 120)}`);
    }
  }
  return found;
}

const inside = (pid: number, args: string[]) => run('nsenter', ['-t', String(pid), '-n', ...args]).then((x) => x.stdout);
const routerPing = (address: string) => run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '2', address]);
// (busybox 1.35's wget crashes on an IPv6 literal URL: curl it is.)
const routerFetch = (address: string) => run('ip', ['netns', 'exec', lab.routerNetns, 'curl', '-s', '-m', '3', `http://[${address}]:8080/index.html`]);
const macOf = (links: string, ifname: string): string | undefined => new RegExp(`^\\d+: ${ifname}@\\S+ .*link/ether ([0-9a-f:]{17})`, 'm').exec(links)?.[1];
const prefixRe = /^2001:db8:c5:0:/;

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

t.test('podman with a network of type slaac: usable at the first process, reachable, inspected, nothing left, same name same address', { skip }, async (t) => {
  t.setTimeout(120_000);
  if (!(await runtimeAvailable('podman'))) return t.fail('podman (with runc and conmon) is not installed');
  const c = await start('cnp-one', [NET]);
  const s = await seen(c.out);
  t.match(s.address, prefixRe, `the first process sees its global address (${s.address})`);
  t.equal(s.tentative, false, 'not tentative in /proc/net/if_inet6 when the first process ran');
  t.equal(s.bind, 'bound', 'httpd bound [address]:8080 at once');
  t.match(s.links, /^\d+: eth0@/m, 'eth0 is ours (the only network)');
  t.comment(`podman run -d took ${c.wallMs} ms`);

  t.equal((await routerPing(s.address)).code, 0, 'the router pings it');
  t.equal((await routerFetch(s.address)).stdout.trim(), `hello from ${s.address}`, "the router fetches from the first process's listener");

  const records = await statusRecords();
  const rec = records.find((r) => r.addresses.some((a) => a.address === s.address));
  t.ok(rec, 'status --json lists a record with that address');
  t.equal(rec?.id, `${c.id}+eth0`, 'record id is <container id>+<CNI_IFNAME>');
  t.equal(rec?.name, 'cnp-one', 'stable name from K8S_POD_NAME (the --name)');
  t.match(rec?.cni ?? {}, { network: NET, containerId: c.id, ifname: 'eth0' }, 'the CNI key of the attachment');

  const nets = await inspectNetworks(c.name);
  const ours = nets[NET];
  t.same(Object.keys(nets), [NET], 'podman inspect: our network only');
  t.equal(ours?.GlobalIPv6Address, s.address, 'podman inspect: GlobalIPv6Address');
  t.equal(ours?.GlobalIPv6PrefixLen, 64, 'podman inspect: GlobalIPv6PrefixLen');
  t.match(ours?.IPv6Gateway ?? '', /^fe80::/, `podman inspect: IPv6Gateway is the router's link-local (${ours?.IPv6Gateway})`);
  if (rec) t.equal(ours?.IPv6Gateway, rec.router.address, "the router the record holds");
  t.equal(ours?.MacAddress, macOf(s.links, 'eth0'), `podman inspect: MacAddress is eth0's (${ours?.MacAddress})`);

  const marked = await linksOfOurs(c.id);
  t.equal(marked.length, 1, `while it runs, the link check finds our link by its mark in podman's netns: ${marked.join(' | ')}`);
  const rm = await remove(c.name);
  t.equal(rm.code, 0, `podman rm -f: ${rm.stderr.trim()}`);
  t.same((await statusRecords()).filter((r) => r.cni?.containerId === c.id || r.addresses.some((a) => a.address === s.address)), [], 'no record left (status)');
  t.same(await linksOfOurs(c.id), [], 'no link of ours anywhere (root netns, every named netns)');
  t.not((await routerPing(s.address)).code, 0, 'the address is gone');

  const again = await start('cnp-one', [NET]);
  const s2 = await seen(again.out);
  t.equal(s2.address, s.address, 'the same --name gets the same address');
  t.equal(s2.bind, 'bound', 'and binds it at once');
  t.not(again.id, c.id, '(a new container)');
  t.equal((await remove(again.name)).code, 0, 'removed');
  t.same((await statusRecords()).filter((r) => r.cni?.containerId === again.id), [], 'no record left');
});

t.test("podman's bridge network first, ours second: eth0 is podman's (IPv4), eth1 ours (SLAAC); both work", { skip }, async (t) => {
  t.setTimeout(120_000);
  if (!(await runtimeAvailable('podman'))) return t.fail('podman (with runc and conmon) is not installed');
  // Named explicitly: podman 4.3 keeps a container's networks in a map and numbers eth0, eth1 in
  // map order (~1 start in 8 swaps them).
  const c = await start('cnp-two', ['podman:interface_name=eth0', `${NET}:interface_name=eth1`]);
  const s = await seen(c.out);
  t.match(s.links, /^\d+: eth0@/m, "podman's eth0");
  t.match(s.links, /^\d+: eth1@/m, 'our eth1');
  t.match(s.address, prefixRe, `the first process sees the SLAAC address (${s.address})`);
  t.equal(s.tentative, false, 'not tentative');
  t.equal(s.bind, 'bound', 'bound at once');
  t.match(await inside(c.pid, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth1', 'scope', 'global']), new RegExp(`inet6 ${s.address}/64`), 'the address is on eth1');

  const rec = (await statusRecords()).find((r) => r.cni?.containerId === c.id);
  t.equal(rec?.interface.name, 'eth1', 'the record: eth1');
  t.equal(rec?.id, `${c.id}+eth1`, 'record id <container id>+eth1');
  t.match(rec?.netns.path ?? '', /^\/run\/netns\/netns-/, "podman's netns, by path");

  t.equal((await routerPing(s.address)).code, 0, "ours works: the router reaches eth1's address");
  t.equal((await routerFetch(s.address)).stdout.trim(), `hello from ${s.address}`, 'and its listener');

  // podman's eth0: configured (IPv4, default route) and carrying traffic: the host pings its
  // link-local across podman's bridge (tests never send to podman's 10.88/16).
  const v4 = /inet (\d+\.\d+\.\d+\.\d+)\/(\d+)/.exec(await inside(c.pid, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']));
  t.ok(v4, `podman configured eth0: ${v4?.[1]}/${v4?.[2]}`);
  t.match(await inside(c.pid, ['ip', '-4', 'route', 'show', 'default']), /dev eth0/, "podman's default route is on eth0");
  const ll = /inet6 (fe80::[0-9a-f:]+)\//.exec(await inside(c.pid, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link']))?.[1];
  const bridge = /^\d+: (cni-podman\d+):/m.exec((await run('ip', ['-o', 'link', 'show', 'type', 'bridge'])).stdout)?.[1];
  t.ok(ll && bridge, `eth0 ${ll} on host bridge ${bridge}`);
  if (ll && bridge) t.equal((await run('ping', ['-6', '-c', '1', '-W', '2', `${ll}%${bridge}`])).code, 0, "podman's eth0 answers across its bridge");

  const nets = await inspectNetworks(c.name);
  t.same(Object.keys(nets).sort(), [NET, 'podman'].sort(), 'podman inspect: both networks');
  t.equal(nets.podman?.IPAddress, v4?.[1], "podman inspect: the bridge's IPv4 address");
  t.equal(nets[NET]?.GlobalIPv6Address, s.address, 'podman inspect: our GlobalIPv6Address');
  t.equal(nets[NET]?.MacAddress, macOf(s.links, 'eth1'), "podman inspect: our MacAddress is eth1's");

  t.equal((await remove(c.name)).code, 0, 'podman rm -f');
  t.same((await statusRecords()).filter((r) => r.cni?.containerId === c.id), [], 'no record left');
  t.same(await linksOfOurs(c.id), [], 'no link of ours anywhere');
  t.not((await routerPing(s.address)).code, 0, 'the address is gone');
});

t.test("the process exits by itself: conmon's cleanup (podman container cleanup) runs DEL", { skip }, async (t) => {
  t.setTimeout(60_000);
  if (!(await runtimeAvailable('podman'))) return t.fail('podman (with runc and conmon) is not installed');
  const c = await start('cnp-exit', [NET], ['/bin/sh', '-c', 'ip -6 -o addr show scope global > /out/addr.tmp && mv /out/addr.tmp /out/addr; sleep 1']);
  const addrFile = path.join(c.out, 'addr');
  for (let i = 0; i < 100 && !fs.existsSync(addrFile); i++) await new Promise((r) => setTimeout(r, 50));
  const address = /inet6 ([0-9a-f:]+)\/64/.exec(fs.existsSync(addrFile) ? fs.readFileSync(addrFile, 'utf8') : '')?.[1] ?? '';
  t.match(address, prefixRe, `it had its address (${address})`);
  let left = await statusRecords();
  for (let i = 0; i < 100 && left.some((r) => r.cni?.containerId === c.id); i++) {
    await new Promise((r) => setTimeout(r, 100));
    left = await statusRecords();
  }
  t.same(left.filter((r) => r.cni?.containerId === c.id), [], 'its record is gone without any podman command of ours');
  t.equal((await podman(['inspect', '--format', '{{.State.Status}}', c.name])).stdout.trim(), 'exited', 'the container is exited, not removed');
  t.same(await linksOfOurs(c.id), [], 'no link of ours anywhere');
  t.equal((await remove(c.name)).code, 0, 'podman rm (no DEL is due)');
});

t.test('the shipped chained conflist (hooks/cni/slaac-podman-chained.conflist): bridge eth0 and ours eth1 in one network', { skip }, async (t) => {
  t.setTimeout(120_000);
  if (!(await runtimeAvailable('podman'))) return t.fail('podman (with runc and conmon) is not installed');
  const shipped = JSON.parse(fs.readFileSync(path.join(ROOT, 'hooks', 'cni', 'slaac-podman-chained.conflist'), 'utf8')) as { name: string; plugins: Record<string, unknown>[] };
  const CHAIN = 'chained-cnp';
  // The file as an operator edits it: the network's name, the bridge's, the parent and config.toml.
  const plugins = shipped.plugins.map((p) => (p.type === 'bridge' ? { ...p, bridge: 'cni-cnp9' } : p.type === 'slaac' ? { ...p, parent: lab.hostIf, config: configFile } : p));
  fs.writeFileSync(path.join(netDir, `${CHAIN}.conflist`), JSON.stringify({ ...shipped, name: CHAIN, plugins }, null, 2));
  t.teardown(() => fs.rmSync(path.join(netDir, `${CHAIN}.conflist`), { force: true }));
  const c = await start('cnp-chain', [CHAIN]);
  const s = await seen(c.out);
  t.match(s.links, /^\d+: eth0@/m, "the bridge's eth0");
  t.match(s.links, /^\d+: eth1@/m, 'ours beside it: eth1');
  t.match(s.address, prefixRe, `the first process sees the SLAAC address (${s.address})`);
  t.equal(s.tentative, false, 'not tentative');
  t.equal(s.bind, 'bound', 'bound at once');
  t.match(await inside(c.pid, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']), /inet 10\.89\.9\.\d+\/24/, "the bridge's IPv4 on eth0");
  const rec = (await statusRecords()).find((r) => r.cni?.containerId === c.id);
  t.equal(rec?.id, `${c.id}+eth0`, 'the record is keyed by the CNI_IFNAME podman passed (eth0)');
  t.equal(rec?.interface.name, 'eth1', 'its link is eth1');
  t.equal((await routerPing(s.address)).code, 0, 'the router reaches it');
  const nets = await inspectNetworks(c.name);
  t.equal(nets[CHAIN]?.GlobalIPv6Address, s.address, 'podman inspect: our GlobalIPv6Address');
  t.match(nets[CHAIN]?.IPAddress ?? '', /^10\.89\.9\./, "podman inspect: the bridge's IPAddress, in the same network");
  t.equal((await remove(c.name)).code, 0, 'podman rm -f');
  t.same((await statusRecords()).filter((r) => r.cni?.containerId === c.id), [], 'no record left');
  t.same(await linksOfOurs(c.id), [], 'no link of ours anywhere');
  await run('ip', ['link', 'del', 'cni-cnp9']);
});
