// secret_file (issue 16, item 7): the config key (an absolute path, config.toml's alone), the
// shared secret's checks (missing, not a regular file, wrong size, wrong owner, open to group or
// others: one line naming the file; never created), loadSecret's choice, the MAC's DAD counter,
// and attach's identity claim against a fake kernel and ND port: with a shared secret the name's
// link-local is asked for from the parent before the link exists, and a copy elsewhere moves this
// one to the next identity (MAC, link-local, global addresses) or refuses it, leaving nothing.
import * as fs from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { applyAnnotations, defaultConfig, isSettingKey, parseConfig, validateForAttach, type HookConfig } from '../../runtime/core/config';
import { InputError } from '../../runtime/core/errors';
import { stableMac } from '../../runtime/core/iid';
import { formatIPv6, formatMac, parseIPv6, parseMac } from '../../runtime/core/ipv6';
import { addressCandidate, linkLocalAddress } from '../../runtime/core/plan';
import { loadSecret, readSharedSecret, secretPath } from '../../runtime/system/host-secret';
import { addressKeys, attach, type AttachRequest } from '../../runtime/pipeline/attach';
import { refreshContainer } from '../../runtime/pipeline/refresh';
import type { PipelineDeps } from '../../runtime/pipeline/deps';
import { pio, raWith } from './helpers';
import { discovered, FakeNet, fakeNd, MemoryLogger, MemoryStore, recordingLock } from './fake-kernel';

const SECRET = Buffer.alloc(32, 0x5e);

// ---------------------------------------------------------------- the key

t.test('secret_file: an absolute path in config.toml; not an annotation, not a CNI setting', async (t) => {
  t.equal(defaultConfig().secret_file, '', 'default: the host\'s own');
  t.equal(parseConfig('secret_file = "/etc/oci-slaac-hook/shared-secret"\n', 'c.toml').secret_file, '/etc/oci-slaac-hook/shared-secret');
  t.equal(parseConfig('secret_file = ""\n', 'c.toml').secret_file, '', 'empty: the host\'s own');
  t.throws(() => parseConfig('secret_file = "shared-secret"\n', 'c.toml'), new InputError('config c.toml: secret_file must be an absolute path, got "shared-secret"'));
  t.throws(() => parseConfig('secret_file = "./s"\n', 'c.toml'), /secret_file must be an absolute path/);
  t.throws(() => parseConfig('secret_file = 5\n', 'c.toml'), /secret_file must be a string/);
  t.throws(() => parseConfig('secret_file = "/a\\nb"\n', 'c.toml'), /secret_file must not contain control characters/);
  t.throws(() => parseConfig(`secret_file = "/${'x'.repeat(4096)}"\n`, 'c.toml'), /secret_file is longer than 4096 characters/);
  t.throws(() => applyAnnotations(defaultConfig(), { 'oci-slaac-hook.secret_file': '/tmp/mine' }), /not a key a container may set/, 'a container cannot pick the secret');
  t.notOk(isSettingKey('secret_file'), 'a CNI network config cannot either: one secret per host, the agent\'s too');
});

// ---------------------------------------------------------------- the file

t.test('readSharedSecret: 32 bytes, a regular file, ours or root\'s, 0600; else one line naming the file', async (t) => {
  const dir = t.testdir();
  const file = (name: string, data: Buffer | string, mode = 0o600): string => {
    const p = join(dir, name);
    fs.writeFileSync(p, data, { mode });
    fs.chmodSync(p, mode);
    return p;
  };
  const good = file('good', SECRET);
  t.same(readSharedSecret(good), SECRET, 'read as it is');
  t.same(readSharedSecret(file('ro', SECRET, 0o400)), SECRET, '0400 is fine too');

  const missing = join(dir, 'missing');
  t.throws(() => readSharedSecret(missing), { message: new RegExp(`^secret_file ${missing} does not exist \\(a shared secret is installed by the operator`) });
  t.notOk(fs.existsSync(missing), 'never created');
  t.throws(() => readSharedSecret('relative/secret'), { message: 'secret_file relative/secret: not an absolute path' });
  for (const size of [0, 16, 31, 33, 64]) {
    const p = file(`size${size}`, Buffer.alloc(size, 1));
    t.throws(() => readSharedSecret(p), { message: `secret_file ${p} is ${size} bytes, expected exactly 32 (head -c 32 /dev/urandom)` }, `${size} bytes`);
  }
  for (const mode of [0o644, 0o640, 0o604, 0o660, 0o602, 0o620]) {
    const p = file(`mode${mode.toString(8)}`, SECRET, mode);
    t.throws(() => readSharedSecret(p), { message: `secret_file ${p} has mode 0${mode.toString(8)}, refusing a secret open to group or others (chmod 0600)` }, `mode 0${mode.toString(8)}`);
  }
  const sub = join(dir, 'a-directory');
  fs.mkdirSync(sub, { mode: 0o700 });
  t.throws(() => readSharedSecret(sub), { message: `secret_file ${sub} is not a regular file` });
  t.throws(() => readSharedSecret('/dev/null'), { message: 'secret_file /dev/null is not a regular file' });
  const fifo = join(dir, 'fifo');
  const { spawnSync } = await import('node:child_process');
  if (spawnSync('mkfifo', ['-m', '0600', fifo]).status === 0) {
    t.throws(() => readSharedSecret(fifo), { message: `secret_file ${fifo} is not a regular file` }, 'a FIFO: refused at once, never waited on');
  }
  // Someone else's file (root runs the tests: chown to nobody).
  if (process.getuid?.() === 0) {
    const p = file('nobodys', SECRET);
    fs.chownSync(p, 65534, 65534);
    t.throws(() => readSharedSecret(p), { message: `secret_file ${p} is owned by uid 65534, expected root (chown root)` });
  }
  // A symbolic link to a good file is followed (the path is the operator's), and checked as the file.
  const link = join(dir, 'link');
  fs.symlinkSync(good, link);
  t.same(readSharedSecret(link), SECRET, 'a symlink to a good secret');
});

t.test('loadSecret: secret_file when set (never made), else the host\'s own (made at first use)', async (t) => {
  const dir = t.testdir();
  const lib = join(dir, 'lib');
  const own = loadSecret({ secret_file: '' }, lib);
  t.equal(own.length, 32);
  t.same(fs.readFileSync(join(lib, 'secret')), own, 'the host\'s own, made in the state lib');
  t.equal(secretPath({ secret_file: '' }, lib), join(lib, 'secret'));
  const shared = join(dir, 'shared');
  fs.writeFileSync(shared, SECRET, { mode: 0o600 });
  t.same(loadSecret({ secret_file: shared }, lib), SECRET, 'the shared one');
  t.equal(secretPath({ secret_file: shared }, lib), shared);
  const lib2 = join(dir, 'lib2');
  t.throws(() => loadSecret({ secret_file: join(dir, 'absent') }, lib2), /does not exist/);
  t.notOk(fs.existsSync(lib2), 'a missing shared secret makes nothing, not even the host\'s own');
});

t.test('stableMac: DAD counter 0 is the MAC names always had; another counter, another MAC', async (t) => {
  const zero = stableMac({ name: 'web', secret: SECRET });
  t.same(stableMac({ name: 'web', secret: SECRET, dadCounter: 0 }), zero);
  const macs = [0, 1, 2, 3].map((n) => formatMac(stableMac({ name: 'web', secret: SECRET, dadCounter: n })));
  t.equal(new Set(macs).size, 4, 'four counters, four MACs');
  for (const m of macs) t.match(m, /^[0-9a-f][26ae]:/, `${m}: unicast, locally administered`);
  t.throws(() => stableMac({ name: 'web', secret: SECRET, dadCounter: 256 }), RangeError);
  t.not(formatIPv6(linkLocalAddress({ name: 'web', secret: SECRET, networkId: '' }, 1)), formatIPv6(linkLocalAddress({ name: 'web', secret: SECRET, networkId: '' })), 'and another link-local');
});

// ---------------------------------------------------------------- attach's identity claim

const PARENT = 'eth0';
const RA = raWith([{ type: 'source-link-layer-address', address: parseMac('02:00:5e:00:53:01') }, pio('2001:db8:1::')], { retransTimer: 250 });
const NAME = 'mover';

function fixture(inUse: (address: string) => boolean) {
  const net = new FakeNet();
  const host = net.addNetns('host', { id: '0:4026531840', path: '/proc/1/ns/net', fd: -1 });
  host.seedLink({ name: 'lo', index: 1, up: true, mtu: 65536 });
  host.seedLink({ name: PARENT, index: 2, up: true, mtu: 1500, mac: '52:54:00:12:34:56' });
  host.seedAddress(2, 'fe80::5054:ff:fe12:3456', 64);
  const c = net.addNetns('c1', { id: '0:4026532001', path: '/run/netns/c1', fd: 20 });
  c.seedLink({ name: 'lo', index: 1, up: false, mtu: 65536 });
  const nd = fakeNd(net, { router: () => discovered(RA), verdict: (address) => (inUse(address) ? 'duplicate' : 'unique') });
  const store = new MemoryStore();
  const log = new MemoryLogger();
  const lock = recordingLock(net);
  const deps: PipelineDeps = {
    host,
    openNetns: (path) => net.open(path),
    nd: nd.make,
    store,
    withLock: lock.withLock,
    withContainerLock: async (_id, fn) => fn({ forget: () => undefined }),
    clock: () => 5_000_000,
    log,
    hostNamespaces: () => [{ what: "the hook's own", id: host.netns.id }],
    processRef: (pid) => ({ pid, start: '1' }),
    processAlive: () => true,
  };
  return { net, host, nd, store, log, deps, initial: net.model() };
}

const config = (over: Partial<HookConfig> = {}): HookConfig => validateForAttach({ ...defaultConfig(), parent: PARENT, secret_file: '/etc/oci-slaac-hook/shared-secret', ...over });
const request = (cfg: HookConfig): AttachRequest => ({ id: 'c1', name: { name: NAME, source: 'annotation' }, netnsPath: '/run/netns/c1', config: cfg, annotations: {}, secret: SECRET });
const identity = (cfg: HookConfig, n: number) => {
  const keys = addressKeys(cfg, NAME, SECRET);
  return { linkLocal: formatIPv6(linkLocalAddress(keys, n)), mac: formatMac(stableMac({ name: NAME, secret: SECRET, dadCounter: n })), global: formatIPv6(addressCandidate(keys, parseIPv6('2001:db8:1::'), 64)(n)) };
};

t.test('shared secret, the name free on the link: identity 0, asked from the parent before the link is made', async (t) => {
  const cfg = config();
  const fx = fixture(() => false);
  const record = await attach(request(cfg), fx.deps);
  const want = identity(cfg, 0);
  t.match(record, { interface: { mac: want.mac }, linkLocal: want.linkLocal, addresses: [{ address: want.global, dadCounter: 0 }] });
  t.match(fx.nd.vantages[0], { ifname: PARENT, netns: { id: fx.host.netns.id } }, 'the first ND port is on the parent, in the host netns');
  t.equal(fx.nd.probes[0], want.linkLocal, 'its first probe: the name\'s link-local');
  const order = fx.net.calls.map((c) => c.text);
  const asked = order.findIndex((s) => s.startsWith(`DAD ${want.linkLocal} on ${PARENT}`));
  const made = order.findIndex((s) => s.includes('createSlave') || s.startsWith('ip link add'));
  t.ok(asked >= 0 && made > asked, `asked (call ${asked}) before the link was made (call ${made})`);
  t.equal(order.filter((s) => s.startsWith('RS ')).length, 1, 'one RS: the parent\'s, whose RA the attach uses');
});

t.test('shared secret, the name running elsewhere: the next identity — MAC, link-local and address of DAD counter 1', async (t) => {
  const cfg = config();
  const taken = identity(cfg, 0);
  const fx = fixture((a) => a === taken.linkLocal || a === taken.global);
  const record = await attach(request(cfg), fx.deps);
  const want = identity(cfg, 1);
  t.match(record, { interface: { mac: want.mac }, linkLocal: want.linkLocal, addresses: [{ address: want.global, dadCounter: 1 }] });
  t.not(record.interface.mac, taken.mac, 'never the other host\'s MAC');
  t.notOk(fx.nd.probes.includes(taken.global), 'the taken identity\'s global address is not even tried');
  t.match(fx.log.lines.join('\n'), new RegExp(`name "${NAME}" is in use on ${PARENT}'s link \\(another host sharing secret_file /etc/oci-slaac-hook/shared-secret: ${taken.linkLocal} NA from fe80::bad\\): taking DAD counter 1`));
  t.equal(record.derivation?.identity, 1, 'the record keeps its identity');

  // Renumbering (a new prefix in a later RA) takes that identity's address there too.
  const keys = addressKeys(cfg, NAME, SECRET);
  const renumbered = raWith([{ type: 'source-link-layer-address', address: parseMac('02:00:5e:00:53:01') }, pio('2001:db8:1::'), pio('2001:db8:2::')], { retransTimer: 250 });
  const r = await refreshContainer('c1', { router: parseIPv6('fe80::1'), advertisement: renumbered, receivedAt: 5_000_000 }, fx.deps, { secret: SECRET });
  const fresh = formatIPv6(addressCandidate(keys, parseIPv6('2001:db8:2::'), 64)(1));
  t.match(fx.store.read('c1')?.addresses, [{ address: want.global, dadCounter: 1 }, { address: fresh, dadCounter: 1 }], `new prefix: DAD counter 1's ${fresh} (${r.changes.join('; ')})`);
  t.notOk(fx.nd.probes.includes(formatIPv6(addressCandidate(keys, parseIPv6('2001:db8:2::'), 64)(0))), 'identity 0\'s address there not even tried');
});

t.test('shared secret: every identity taken, or a static iid whose name is taken — refused, nothing left', async (t) => {
  for (const [what, cfg, inUse] of [
    ['counters 0..3 all taken', config(), (a: string) => a.startsWith('fe80:')],
    ['a static iid', config({ iid: '::53' }), (a: string) => a === identity(config({ iid: '::53' }), 0).linkLocal],
  ] as const) {
    const fx = fixture(inUse);
    await t.rejects(attach(request(cfg), fx.deps), { name: 'InputError', message: new RegExp(`^name "${NAME}" is in use on ${PARENT}'s link by another host sharing secret_file /etc/oci-slaac-hook/shared-secret \\(`) }, what);
    t.strictSame(fx.net.model(), fx.initial, `${what}: the host and the netns as before`);
    t.equal(fx.store.read('c1'), undefined, `${what}: no record`);
  }
});

t.test('the host\'s own secret: no probe from the parent, identity 0 (as before secret_file existed)', async (t) => {
  const cfg = config({ secret_file: '' });
  const fx = fixture(() => false);
  const record = await attach(request(cfg), fx.deps);
  t.notOk(fx.nd.vantages.some((v) => v.netns.id === fx.host.netns.id), 'ND from the container\'s link only');
  t.equal(record.interface.mac, identity(cfg, 0).mac);
});
