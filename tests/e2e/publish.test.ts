// DNS publication by the hook against a real BIND9 in the lab: AAAA + PTR while a container
// runs, exactly ours withdrawn at stop, foreign records untouched, containers on two hosts
// finding each other by name, and the failure modes (wrong key, server down, bad names).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { dig, nsupdate, reverseName } from '../../vm/lab/dns';
import { makeRootfs, startContainer } from '../../vm/lab/containers';
import type { ContainerRecord } from '../../runtime/core/record';
import { stableAddress } from '../../runtime/core/iid';
import { formatIPv6, parsePrefix } from '../../runtime/core/ipv6';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'oci-slaac-hook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-pub-'));
const libDir = path.join(work, 'lib');
const secret = Buffer.alloc(32, 0x33); // a known host secret, so the test can compute the addresses
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), secret, { mode: 0o600 });
type DnsLab = Lab & { dnsAddr: string; dnsPort: number; dnsZone: string; dnsReverseZone: string; dnsKeyFile: string };
let lab: DnsLab;

t.before(async () => {
  // A prefix of its own: host addresses in the root netns must not overlap another lab's.
  const up = await labUp({
    LAB_NAME: 'osh-pub',
    LAB_PREFIX: '2001:db8:53::/64',
    LAB_ROUTER_ADDR: '2001:db8:53::1',
    LAB_PEER_ADDR: '2001:db8:53::100',
    LAB_RDNSS: '2001:db8:53::53',
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:53::53',
    LAB_HOST_ADDR: '2001:db8:53::2/64',
    LAB_HOSTB: '1',
    LAB_HOSTB_ADDR: '2001:db8:53::3/64',
  });
  const { dnsAddr, dnsPort, dnsZone, dnsReverseZone, dnsKeyFile } = up;
  if (!dnsAddr || !dnsPort || !dnsZone || !dnsReverseZone || !dnsKeyFile) throw new Error('the lab has no DNS server');
  lab = { ...up, dnsAddr, dnsPort, dnsZone, dnsReverseZone, dnsKeyFile };
});
t.teardown(async () => {
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

interface DnsKeys {
  required?: boolean;
  server?: string;
  key_file?: string;
  reverse?: boolean;
}
function writeConfig(name: string, parent: string, dns: DnsKeys = {}): string {
  const file = path.join(work, `${name}.toml`);
  const server = dns.server ?? `[${lab.dnsAddr}]:${lab.dnsPort}`;
  fs.writeFileSync(
    file,
    [
      `parent = ${JSON.stringify(parent)}`,
      `state_dir = ${JSON.stringify(path.join(work, `state-${name}`))}`,
      '[dns]',
      `server = ${JSON.stringify(server)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      dns.reverse === false ? '' : `reverse_zone = ${JSON.stringify(lab.dnsReverseZone)}`,
      `key_file = ${JSON.stringify(dns.key_file ?? lab.dnsKeyFile)}`,
      'ttl = 60',
      'timeout_ms = 500',
      `required = ${dns.required ?? false}`,
    ].join('\n') + '\n',
  );
  return file;
}

/** A container stand-in on a host (root netns = host A, or host B's netns): a netns, a bundle, the hook run there. */
async function fakeContainer(id: string, config: string, opts: { hostNetns?: string; annotations?: Record<string, string> } = {}) {
  const netns = `osh-pc-${id}`.slice(0, 30);
  await run('ip', ['netns', 'add', netns]);
  const bundle = path.join(work, 'bundles', id);
  fs.mkdirSync(bundle, { recursive: true });
  fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'network', path: `/run/netns/${netns}` }] }, annotations: opts.annotations ?? {} }));
  const hook = (stage: string, status: string) =>
    run(process.execPath, [CLI, stage, '--config', config], {
      netns: opts.hostNetns,
      input: JSON.stringify({ ociVersion: '1.0.2', id, status, bundle }),
      env: { OCI_SLAAC_HOOK_STATE_LIB: libDir },
      timeoutMs: 20000,
    });
  const state = (): ContainerRecord | undefined => {
    const dir = /state_dir = "(.*)"/.exec(fs.readFileSync(config, 'utf8'))?.[1] ?? '';
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, `${id}.json`), 'utf8')) as ContainerRecord;
    } catch {
      return undefined;
    }
  };
  return {
    netns,
    start: () => hook('createRuntime', 'creating'),
    stop: () => hook('poststop', 'stopped'),
    state,
    links: async () => (await run('ip', ['-n', netns, '-o', 'link'])).stdout,
    remove: () => run('ip', ['netns', 'del', netns]).then(() => undefined),
  };
}

t.test('AAAA and PTR while it runs; exactly ours withdrawn at stop; foreign records survive', async (t) => {
  const config = writeConfig('main', lab.hostIf);
  const c = await fakeContainer('pub1', config, { annotations: { 'oci-slaac-hook.name': 'web1' } });
  t.teardown(c.remove);
  // Records that are not ours: another name, and a second AAAA at the name we will use.
  const zone = lab.dnsZone;
  const foreign = await nsupdate(lab, [`zone ${zone}`, `update add other.${zone} 60 AAAA 2001:db8:1::abc`, `update add web1.${zone} 60 AAAA 2001:db8:1::def`]);
  t.equal(foreign.code, 0, foreign.stderr);

  const r = await c.start();
  t.equal(r.code, 0, r.stderr);
  const rec = c.state();
  const address = rec?.addresses[0]?.address ?? '';
  t.match(rec?.dns, { name: `web1.${zone}`, status: 'published' });
  t.same((await dig(lab, `web1.${zone}`, 'AAAA')).sort(), ['2001:db8:1::def', address].sort(), 'AAAA: ours beside the foreign one');
  t.same(await dig(lab, reverseName(address), 'PTR'), [`web1.${zone}.`], 'PTR');
  const status = await run(process.execPath, [CLI, 'status', '--config', config]);
  t.match(status.stdout, new RegExp(`web1\\.${zone.replace('.', '\\.')} \\(published\\)`), 'status shows the DNS name, published');

  t.equal((await c.stop()).code, 0);
  t.same(await dig(lab, `web1.${zone}`, 'AAAA'), ['2001:db8:1::def'], 'our AAAA gone, the foreign one kept');
  t.same(await dig(lab, reverseName(address), 'PTR'), [], 'PTR gone');
  t.same(await dig(lab, `other.${zone}`, 'AAAA'), ['2001:db8:1::abc'], 'the record at another name survives');
  t.equal(c.state(), undefined, 'state gone');
});

t.test('names: sanitised as documented, or an error', async (t) => {
  const config = writeConfig('names', lab.hostIf);
  const c = await fakeContainer('pub2', config, { annotations: { 'oci-slaac-hook.name': 'My_App.v2' } });
  t.teardown(c.remove);
  t.equal((await c.start()).code, 0);
  t.equal(c.state()?.dns?.name, `my-app-v2.${lab.dnsZone}`);
  t.equal((await dig(lab, `my-app-v2.${lab.dnsZone}`, 'AAAA')).length, 1);
  await c.stop();

  const bad = await fakeContainer('pub3', config, { annotations: { 'oci-slaac-hook.name': 'café' } });
  t.teardown(bad.remove);
  const r = await bad.start();
  t.equal(r.code, 0, 'not required: the container starts');
  t.match(r.stderr, /container name "café" cannot be made a DNS label: "é" is not allowed/);
  t.equal(bad.state()?.dns, undefined, 'nothing published');
  await bad.stop();

  const strict = writeConfig('names-req', lab.hostIf, { required: true });
  const bad2 = await fakeContainer('pub4', strict, { annotations: { 'oci-slaac-hook.name': 'café' } });
  t.teardown(bad2.remove);
  const r2 = await bad2.start();
  t.equal(r2.code, 1, 'required: refused');
  t.match(r2.stderr, /^oci-slaac-hook: pub4: container name "café" cannot be made a DNS label/);
  t.notMatch(await bad2.links(), /eth0/, 'no link left');
  t.equal(bad2.state(), undefined);

  const explicit = await fakeContainer('pub5', config, { annotations: { 'oci-slaac-hook.name': 'café', 'oci-slaac-hook.dns_name': 'Cafe' } });
  t.teardown(explicit.remove);
  t.equal((await explicit.start()).code, 0);
  t.equal(explicit.state()?.dns?.name, `cafe.${lab.dnsZone}`, 'the dns_name annotation names it');
  await explicit.stop();
});

t.test('wrong key: BADSIG by name; server down: pending, or refused when required', async (t) => {
  const wrongKey = path.join(work, 'wrong.key');
  const keyName = /key "([^"]+)"/.exec(fs.readFileSync(lab.dnsKeyFile, 'utf8'))?.[1] ?? 'oci-slaac-hook';
  fs.writeFileSync(wrongKey, `key "${keyName}" {\n\talgorithm hmac-sha256;\n\tsecret "${Buffer.alloc(32, 1).toString('base64')}";\n};\n`);
  const c1 = await fakeContainer('pub6', writeConfig('wrongkey', lab.hostIf, { key_file: wrongKey, required: true }));
  t.teardown(c1.remove);
  const r1 = await c1.start();
  t.equal(r1.code, 1);
  t.match(r1.stderr, /^oci-slaac-hook: pub6: DNS update of \S+ at \S+: BADSIG/m, 'BADSIG, by name');
  t.notMatch(await c1.links(), /eth0/, 'no link left');
  t.equal(c1.state(), undefined, 'no state left');

  const down = `[${lab.dnsAddr}]:5399`; // the DNS host, a port nobody answers on
  const c2 = await fakeContainer('pub7', writeConfig('down', lab.hostIf, { server: down }));
  t.teardown(c2.remove);
  const r2 = await c2.start();
  t.equal(r2.code, 0, 'not required: starts');
  t.match(r2.stderr, /DNS update of .*: (TIMEOUT|NETWORK)/);
  t.match(c2.state()?.dns, { status: 'pending' });
  const status = await run(process.execPath, [CLI, 'status', '--config', path.join(work, 'down.toml')]);
  t.match(status.stdout, /\(pending\)/, 'status shows pending');
  t.equal((await c2.stop()).code, 0, 'nothing published, nothing to withdraw');

  const c3 = await fakeContainer('pub8', writeConfig('down-req', lab.hostIf, { server: down, required: true }));
  t.teardown(c3.remove);
  const r3 = await c3.start();
  t.equal(r3.code, 1, 'required: refused');
  t.equal(r3.stderr.trim().split('\n').length, 1, 'one line');
  t.notMatch(await c3.links(), /eth0/, 'no link left');
  t.equal(c3.state(), undefined, 'no state left');
});

t.test('optimistic DAD replacing a taken address republishes it', async (t) => {
  const candidate = (n: number) => formatIPv6(stableAddress({ prefix: parsePrefix('2001:db8:53::/64').address, prefixLength: 64, name: 'opti', networkId: '', dadCounter: n, secret }).address);
  await run('ip', ['-n', lab.peerNetns, 'addr', 'add', `${candidate(0)}/64`, 'dev', lab.peerIf, 'nodad']);
  t.teardown(() => run('ip', ['-n', lab.peerNetns, 'addr', 'del', `${candidate(0)}/64`, 'dev', lab.peerIf]).then(() => undefined));
  const c = await fakeContainer('pub9', writeConfig('opti', lab.hostIf), { annotations: { 'oci-slaac-hook.name': 'opti', 'oci-slaac-hook.dad': 'optimistic' } });
  t.teardown(c.remove);
  t.equal((await c.start()).code, 0);
  t.same(await dig(lab, `opti.${lab.dnsZone}`, 'AAAA'), [candidate(0)], 'published at once, before DAD');
  const deadline = Date.now() + 6000;
  while (Date.now() < deadline && c.state()?.addresses[0]?.dad !== 'verified') await new Promise((r) => setTimeout(r, 100));
  t.match(c.state(), { addresses: [{ address: candidate(1), dad: 'verified' }], dns: { status: 'published' } });
  t.same(await dig(lab, `opti.${lab.dnsZone}`, 'AAAA'), [candidate(1)], 'the taken address withdrawn, the new one published');
  t.same(await dig(lab, reverseName(candidate(0)), 'PTR'), [], 'old PTR gone');
  t.same(await dig(lab, reverseName(candidate(1)), 'PTR'), [`opti.${lab.dnsZone}.`], 'new PTR');
  t.equal((await c.stop()).code, 0);
  t.same(await dig(lab, `opti.${lab.dnsZone}`, 'AAAA'), []);
});

t.test('containers on two hosts find each other by name', async (t) => {
  if (!lab.hostbNetns || !lab.hostbIf) throw new Error('lab has no host B');
  // Host B: its own hook, in its own network namespace, on its own NIC.
  const b = await fakeContainer('hostb-web', writeConfig('hostb', lab.hostbIf), { hostNetns: lab.hostbNetns, annotations: { 'oci-slaac-hook.name': 'web-b' } });
  t.teardown(b.remove);
  const rb = await b.start();
  t.equal(rb.code, 0, rb.stderr);
  const www = path.join(work, 'www-b');
  fs.mkdirSync(www, { recursive: true });
  fs.writeFileSync(path.join(www, 'index.html'), 'hello from host B\n');
  const addrB = b.state()?.addresses[0]?.address ?? '';
  const httpd = await run('ip', ['netns', 'exec', b.netns, 'busybox', 'httpd', '-p', `[${addrB}]:80`, '-h', www]);
  t.equal(httpd.code, 0, httpd.stderr);
  t.teardown(() => run('pkill', ['-f', `busybox httpd -p \\[${addrB}\\]:80`]).then(() => undefined));

  // Host A: a real runc container with the hook, resolving web-b through the lab's DNS.
  const rootfs = path.join(work, 'rootfs');
  await makeRootfs(rootfs);
  fs.writeFileSync(path.join(rootfs, 'etc', 'resolv.conf'), `nameserver ${lab.dnsAddr}\nsearch ${lab.dnsZone}\n`);
  const out = path.join(work, 'out-a');
  fs.mkdirSync(out);
  fs.writeFileSync(
    path.join(rootfs, 'fetch.sh'),
    `#!/bin/sh\nnslookup -type=AAAA web-b.${lab.dnsZone} ${lab.dnsAddr} > /out/nslookup 2>&1\nprintf 'GET / HTTP/1.0\\r\\nHost: web-b\\r\\n\\r\\n' | nc -w 3 web-b.${lab.dnsZone} 80 > /out/page 2>&1\necho done > /out/done\nexec sleep 60\n`,
    { mode: 0o755 },
  );
  const configA = writeConfig('hosta', lab.hostIf);
  const env = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `OCI_SLAAC_HOOK_STATE_LIB=${libDir}`];
  const hook = (stage: string) => ({ path: process.execPath, args: ['node', CLI, stage, '--config', configA], env });
  const a = await startContainer('runc', { id: 'web-a', rootfs, args: ['/bin/sh', '/fetch.sh'], outDir: out, hooks: { createRuntime: [hook('createRuntime')], poststop: [hook('poststop')] } });
  t.equal(a.code, 0, a.stderr);
  const deadline = Date.now() + 10000;
  while (!fs.existsSync(path.join(out, 'done')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  t.match(fs.readFileSync(path.join(out, 'nslookup'), 'utf8'), new RegExp(addrB.replace(/:/g, ':')), 'host A container resolves web-b to host B container address');
  t.match(fs.readFileSync(path.join(out, 'page'), 'utf8'), /hello from host B/, 'and fetches its page by name');
  t.same(await dig(lab, `web-a.${lab.dnsZone}`, 'AAAA'), [a.container ? (JSON.parse(fs.readFileSync(path.join(work, 'state-hosta', 'web-a.json'), 'utf8')) as ContainerRecord).addresses[0]?.address : ''], 'host A container published too');
  await a.container?.stop();
  t.equal((await b.stop()).code, 0);
  t.same(await dig(lab, `web-a.${lab.dnsZone}`, 'AAAA'), []);
  t.same(await dig(lab, `web-b.${lab.dnsZone}`, 'AAAA'), []);
});
