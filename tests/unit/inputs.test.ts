// Hostile inputs (issue 10, part 7): numbers a container may set are bounded, host resources are
// chosen by annotation only within the operator's allow-list, input files are read only when
// regular, bounded and (config.json) not through a symlink, errors never quote file content,
// control characters never reach a log line or a status cell raw, and every valid container id
// has a state file that status lists.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import t from 'tap';
import { applyAnnotations, DEFAULTS, parseConfig, RANGES, validateForAttach, type HookConfig } from '../../runtime/core/config';
import { InputError } from '../../runtime/core/errors';
import type { ContainerRecord } from '../../runtime/core/record';
import { loadConfigFile } from '../../runtime/system/config-file';
import { escapeControls, Logger } from '../../runtime/system/log';
import { StateStore, stateFileName } from '../../runtime/system/state-store';
import { jsonErrorOffset, parseJsonText, readRegularFile, readStdinState } from '../../runtime/wire/oci/files';
import { parseConfigJson, parseState, readConfig } from '../../runtime/wire/oci/spec';
import { statusCommand } from '../../hooks/commands';
import { sampleRecord } from './helpers';

const base: HookConfig = { ...DEFAULTS, parent: 'eth9' };
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inp-unit-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

// ------------------------------------------------------------------ limits

t.test('ra_timeout_ms and dad_transmits out of range are refused, naming the key and the range', async (t) => {
  t.throws(() => applyAnnotations(base, { 'oci-slaac-hook.ra_timeout_ms': '2147483647' }), new InputError('annotation oci-slaac-hook.ra_timeout_ms: ra_timeout_ms must be an integer in 100..30000, got "2147483647"'));
  t.throws(() => applyAnnotations(base, { 'oci-slaac-hook.dad_transmits': '100000' }), new InputError('annotation oci-slaac-hook.dad_transmits: dad_transmits must be an integer in 1..10, got "100000"'));
  t.throws(() => applyAnnotations(base, { 'oci-slaac-hook.ra_timeout_ms': '99' }), /ra_timeout_ms must be an integer in 100\.\.30000, got "99"/);
  t.throws(() => applyAnnotations(base, { 'oci-slaac-hook.ra_timeout_ms': '1e9' }), /ra_timeout_ms must be an integer in 100\.\.30000/);
  t.throws(() => applyAnnotations(base, { 'oci-slaac-hook.dad_transmits': '0' }), /dad_transmits must be an integer in 1\.\.10, got "0"/);
  t.throws(() => applyAnnotations(base, { 'oci-slaac-hook.dad_transmits': '9'.repeat(400) }), /dad_transmits must be an integer in 1\.\.10, got "9{50,}…\(402 chars\)$/);
  t.equal(applyAnnotations(base, { 'oci-slaac-hook.ra_timeout_ms': '30000' }).ra_timeout_ms, 30000, 'the bounds themselves are fine');
  t.equal(applyAnnotations(base, { 'oci-slaac-hook.dad_transmits': '10' }).dad_transmits, 10);
});

t.test('every number in config.toml has a range, refused outside it', async (t) => {
  const keys = ['dad_transmits', 'ra_timeout_ms', 'l3_table', 'max_prefixes', 'max_routes', 'max_dns_servers'];
  for (const key of keys) {
    const [min, max] = RANGES[key] ?? [0, 0];
    t.ok(min >= 1 && max <= 0x7fffffff, `${key}: ${min}..${max}`);
    t.throws(() => parseConfig(`${key} = ${max + 1}\n`, 'c.toml'), new InputError(`config c.toml: ${key} must be an integer in ${min}..${max}, got ${max + 1}`));
    t.throws(() => parseConfig(`${key} = ${min - 1}\n`, 'c.toml'), /must be an integer in/);
    t.equal(parseConfig(`${key} = ${max}\n`, 'c.toml')[key as 'l3_table'], max);
  }
  t.same([RANGES.max_prefixes, RANGES.max_routes, RANGES.max_dns_servers], [[1, 256], [1, 256], [1, 256]]);
  t.throws(() => parseConfig('[dns]\nserver = "::1"\nzone = "x"\ntimeout_ms = 3600000\n', 'c.toml'), new InputError('config c.toml [dns]: timeout_ms must be an integer in 100..30000, got 3600000'));
  t.throws(() => parseConfig('[dns]\nserver = "::1"\nzone = "x"\nttl = 0\n', 'c.toml'), /\[dns\]: ttl must be an integer in 1\.\.604800, got 0/);
  t.throws(() => parseConfig('max_prefixes = 1e3\n', 'c.toml'), /max_prefixes must be an integer in 1\.\.256/);
  t.throws(() => parseConfig('dns = 3\n', 'c.toml'), new InputError('config c.toml: dns must be a table ([dns])'));
});

t.test('strings a container sets are bounded and single-line', async (t) => {
  t.throws(() => applyAnnotations(base, { 'oci-slaac-hook.network_id': 'x'.repeat(256) }), /network_id is longer than 255 characters/);
  t.throws(() => applyAnnotations(base, { 'oci-slaac-hook.network_id': 'a\nb' }), /network_id must not contain control characters, got "a\\nb"/);
  t.equal(applyAnnotations(base, { 'oci-slaac-hook.network_id': 'lan-7' }).network_id, 'lan-7');
});

// ------------------------------------------------------------------ the allow-list

t.test('keys that choose host resources: not settable by annotation unless the operator allows the value', async (t) => {
  for (const [key, value] of [['parent', 'eth0'], ['mode', 'ipvlan'], ['macvlan_mode', 'passthru'], ['ipvlan_mode', 'l3'], ['iid', '::53']] as const) {
    t.throws(() => applyAnnotations(base, { [`oci-slaac-hook.${key}`]: value }), { name: 'InputError', message: new RegExp(`^annotation oci-slaac-hook\\.${key}: ${key} is not settable by annotation on this host.*\\[annotation_allow\\] ${key}`) }, `${key} refused by default`);
  }
  t.equal(applyAnnotations(base, { 'oci-slaac-hook.parent': 'eth9' }).parent, 'eth9', 'the value the file sets is no choice');
  const cfg = parseConfig('parent = "eth9"\n[annotation_allow]\nparent = ["eth1", "eth2"]\nipvlan_mode = ["l2", "l3"]\nmode = ["ipvlan"]\n', 'c.toml');
  t.same(cfg.annotation_allow, { parent: ['eth1', 'eth2'], ipvlan_mode: ['l2', 'l3'], mode: ['ipvlan'] });
  t.equal(applyAnnotations(cfg, { 'oci-slaac-hook.parent': 'eth2' }).parent, 'eth2', 'a listed value');
  t.equal(applyAnnotations(cfg, { 'oci-slaac-hook.mode': 'ipvlan', 'oci-slaac-hook.ipvlan_mode': 'l3' }).ipvlan_mode, 'l3');
  t.throws(() => applyAnnotations(cfg, { 'oci-slaac-hook.parent': 'wlan0' }), new InputError('annotation oci-slaac-hook.parent: parent "wlan0" is not allowed; allowed: eth9, eth1, eth2 (config.toml [annotation_allow])'));
  t.throws(() => applyAnnotations(cfg, { 'oci-slaac-hook.ipvlan_mode': 'l3s' }), /ipvlan_mode "l3s" is not allowed; allowed: l2, l3 \(config\.toml \[annotation_allow\]\)/);
  t.throws(() => applyAnnotations(cfg, { 'oci-slaac-hook.macvlan_mode': 'passthru' }), /macvlan_mode is not settable by annotation on this host \(it is "bridge"\)/);
  // The list itself is checked as the key's own values are.
  t.throws(() => parseConfig('[annotation_allow]\nmode = ["vxlan"]\n', 'c.toml'), /\[annotation_allow\] mode: mode must be one of macvlan, ipvlan, got "vxlan"/);
  t.throws(() => parseConfig('[annotation_allow]\nparent = "eth1"\n', 'c.toml'), /\[annotation_allow\]: parent must be an array of at most 256 strings/);
  t.throws(() => parseConfig('[annotation_allow]\ndad = ["strict"]\n', 'c.toml'), /"dad" is not a key that chooses host resources \(those are parent, mode, macvlan_mode, ipvlan_mode, iid\)/);
  t.throws(() => parseConfig('[annotation_allow]\nparent = ["a/b"]\n', 'c.toml'), InputError);
  t.throws(() => parseConfig('annotation_allow = 1\n', 'c.toml'), /annotation_allow must be a table/);
  t.equal(validateForAttach(applyAnnotations(cfg, { 'oci-slaac-hook.parent': 'eth1' })).parent, 'eth1');
});

// ------------------------------------------------------------------ files

t.test('config.json: a FIFO, /dev/zero, a symlink, a directory or an oversized file is refused at once, content never quoted', async (t) => {
  const secret = path.join(tmp, 'secret.txt');
  fs.writeFileSync(secret, 'TOPSECRET-do-not-print');
  const mk = (name: string): string => {
    const dir = path.join(tmp, name);
    fs.mkdirSync(dir);
    return dir;
  };
  const fifo = mk('fifo');
  execFileSync('mkfifo', [path.join(fifo, 'config.json')]);
  t.throws(() => readConfig(fifo), new InputError(`${fifo}/config.json is a FIFO, not a regular file: refused`), 'a FIFO: no hang');
  const zero = mk('zero');
  fs.symlinkSync('/dev/zero', path.join(zero, 'config.json'));
  t.throws(() => readConfig(zero), new InputError(`${zero}/config.json is a symbolic link: refused (it must be a regular file of its own)`));
  t.throws(() => readRegularFile('/dev/zero', { what: 'z', maxBytes: 10 }), new InputError('z is a character device, not a regular file: refused'), '/dev/zero itself: no hang');
  const link = mk('link');
  fs.symlinkSync(secret, path.join(link, 'config.json'));
  const err = (() => {
    try {
      readConfig(link);
    } catch (e) {
      return e as Error;
    }
    return undefined;
  })();
  t.ok(err instanceof InputError);
  t.notMatch(err?.message ?? '', /TOPSECRET|TOPS/, 'nothing of the target is shown');
  const inner = mk('inner');
  fs.writeFileSync(path.join(inner, 'real.json'), '{}');
  fs.symlinkSync('real.json', path.join(inner, 'config.json'));
  t.throws(() => readConfig(inner), /is a symbolic link: refused/, 'even one inside the bundle: config.json is the bundle\'s own file');
  const dir = mk('dir');
  fs.mkdirSync(path.join(dir, 'config.json'));
  t.throws(() => readConfig(dir), /config\.json is a directory, not a regular file: refused/);
  const big = mk('big');
  fs.writeFileSync(path.join(big, 'config.json'), `{"x":"${'a'.repeat(1024 * 1024)}"}`);
  t.throws(() => readConfig(big), new InputError(`${big}/config.json is larger than 1048576 bytes`));
  const bad = mk('bad');
  fs.writeFileSync(path.join(bad, 'config.json'), 'TOPSECRET-do-not-print');
  t.throws(() => readConfig(bad), new InputError(`${bad}/config.json is not valid JSON (at byte 0)`), 'no excerpt of the file');
  const binary = mk('binary');
  fs.writeFileSync(path.join(binary, 'config.json'), Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
  t.throws(() => readConfig(binary), /config\.json is not UTF-8 text$/);
  t.throws(() => readConfig(mk('none')), /config\.json: does not exist$/);
  const good = mk('good');
  fs.writeFileSync(path.join(good, 'config.json'), JSON.stringify({ annotations: { a: 'b' }, linux: { namespaces: [{ type: 'network' }] } }));
  t.same(readConfig(good).annotations, { a: 'b' });
});

t.test('JSON errors say where, never what', async (t) => {
  const cases: [string, number][] = [
    ['TOPSECRET', 0],
    ['{"a": TOPSECRET}', 6],
    ['{"a": 1,}', 8],
    ['[1, 2', 5],
    ['{"a" 1}', 5],
    ['"\u00e9\u00e9" x', 7],
    ['{"a": "x\ny"}', 8],
    ['', 0],
    ['{} {}', 3],
    ['[-]', 1],
    ['{"k": "\\q"}', 8],
  ];
  for (const [text, at] of cases) {
    t.throws(() => JSON.parse(text), SyntaxError, `${JSON.stringify(text)} is bad JSON`);
    t.equal(jsonErrorOffset(text), at, `${JSON.stringify(text)}: byte ${at}`);
    t.throws(() => parseJsonText(text, 'x'), new InputError(`x is not valid JSON (at byte ${at})`));
  }
  t.throws(() => parseState('{"ociVersion": "1.0.2", "id": TOPSECRET'), new InputError('OCI state on stdin is not valid JSON (at byte 30)'));
  t.throws(() => parseConfigJson('{"annotations": {"a": 1}}', '/b/config.json'), new InputError('config.json.annotations["a"] must be a string'));
  t.same(Object.keys(parseConfigJson('{"annotations": {"__proto__": "x"}}', 'f').annotations), ['__proto__'], '"__proto__" is an annotation like another');
});

t.test('config.toml: regular and bounded, errors without the file\'s lines', async (t) => {
  const file = path.join(tmp, 'c.toml');
  fs.writeFileSync(file, 'parent = "eth0"\nTOPSECRET = = 1\n');
  t.throws(() => loadConfigFile(file), { name: 'InputError', message: new RegExp(`^config ${file}: not valid TOML(: [^"]*)? \\(at line 2, column \\d+\\)$`) });
  t.notMatch((() => { try { loadConfigFile(file); } catch (e) { return (e as Error).message; } return ''; })(), /TOPSECRET/);
  const fifo = path.join(tmp, 'c.fifo');
  execFileSync('mkfifo', [fifo]);
  t.throws(() => loadConfigFile(fifo), new InputError(`config ${fifo} is a FIFO, not a regular file: refused`));
  t.throws(() => loadConfigFile('/dev/zero'), new InputError('config /dev/zero is a character device, not a regular file: refused'));
  const big = path.join(tmp, 'big.toml');
  fs.writeFileSync(big, `# ${'x'.repeat(70000)}\n`);
  t.throws(() => loadConfigFile(big), new InputError(`config ${big} is larger than 65536 bytes`));
  t.throws(() => loadConfigFile(path.join(tmp, 'absent.toml')), new InputError(`config ${path.join(tmp, 'absent.toml')}: does not exist`));
  const linked = path.join(tmp, 'linked.toml');
  fs.writeFileSync(path.join(tmp, 'real.toml'), 'parent = "eth3"\n');
  fs.symlinkSync(path.join(tmp, 'real.toml'), linked);
  t.equal(loadConfigFile(linked).parent, 'eth3', 'the operator\'s own path may be a symlink (a mounted ConfigMap)');
});

t.test('the state on stdin is bounded: /dev/zero is refused, not read forever', async (t) => {
  const fd = fs.openSync('/dev/zero', 'r');
  t.teardown(() => fs.closeSync(fd));
  t.throws(() => readStdinState(fd), new InputError('OCI state on stdin is larger than 1048576 bytes'));
  const empty = fs.openSync('/dev/null', 'r');
  t.teardown(() => fs.closeSync(empty));
  t.equal(readStdinState(empty), '');
  t.throws(() => parseState(''), new InputError('no OCI state on stdin'));
});

// ------------------------------------------------------------------ logs and status

t.test('control characters are escaped in every log line', async (t) => {
  t.equal(escapeControls('a\nb\rc\td\u0000e\u001bf\u0085g\u2028h'), 'a\\nb\\rc\\td\\x00e\\x1bf\\x85g\\u2028h');
  t.equal(escapeControls('café ✓ 2001:db8::1'), 'café ✓ 2001:db8::1', 'printable text is kept');
  const lines: string[] = [];
  // The logger writes fd 2 directly (runtime/system/log.ts): what it writes there is captured.
  const nodeFs = require('node:fs') as typeof fs;
  const writeSync = nodeFs.writeSync;
  nodeFs.writeSync = ((fd: number, data: Uint8Array, ...rest: never[]) => {
    if (fd !== 2) return writeSync(fd, data, ...rest);
    lines.push(Buffer.from(data).toString('utf8'));
    return data.length;
  }) as typeof fs.writeSync;
  try {
    const log = new Logger('', path.join(tmp, 'no-syslog'));
    log.forContainer('c1');
    log.info('eth0 2001:db8::1/64 (name "x\noci-slaac-hook: c2: eth0 2001:db8::66/64 attached")');
    log.close();
  } finally {
    nodeFs.writeSync = writeSync;
  }
  t.equal(lines.length, 1);
  t.equal(lines[0]?.split('\n').length, 2, 'one line and its newline');
  t.equal(lines[0], 'oci-slaac-hook: c1: eth0 2001:db8::1/64 (name "x\\noci-slaac-hook: c2: eth0 2001:db8::66/64 attached")\n');
});

const record = (id: string, over: Partial<ContainerRecord> = {}): ContainerRecord =>
  sampleRecord(id, { netns: { path: '/run/netns/x', id: '4:100' }, interface: { name: 'eth0', index: 5, mac: '', kind: 'macvlan', mode: 'bridge' }, parent: 'nic0', linkLocal: 'fe80::1', timings: { raMs: 0, dadMs: 0, totalMs: 0 }, since: '2026-01-01T00:00:00.000Z', ...over });

t.test('status: one row per record, whatever the name holds', async (t) => {
  const dir = path.join(tmp, 'status');
  const store = new StateStore(path.join(dir, 'state'));
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'c.toml'), `state_dir = ${JSON.stringify(store.dir)}\n`);
  store.write(record('web1', { name: 'evil\nweb2  eth0  forged\tcell' }));
  store.write(record('web3', { since: '2026-01-02T00:00:00.000Z' }));
  const out = statusCommand({ config: path.join(dir, 'c.toml') });
  const lines = out.text.split('\n');
  t.equal(lines.length, 3, 'a header and two rows');
  t.match(lines[1], /^web1\s+evil\\nweb2  eth0  forged\\tcell\s+eth0/);
  t.match(lines[2], /^web3\s+web3\s+eth0/);
});

// ------------------------------------------------------------------ state files and ids

t.test('any valid id has a state file, and status lists it', async (t) => {
  const store = new StateStore(path.join(tmp, 'ids'));
  const ids = ['web1', 'a'.repeat(240), 'b'.repeat(255), 'c'.repeat(1024), '.hidden', '-dash', '..x', '_x', '+x', 'x.json', 'x..'];
  for (const [i, id] of ids.entries()) store.write(record(id, { since: `2026-01-01T00:00:${String(i).padStart(2, '0')}.000Z` }));
  for (const id of ids) t.equal(store.read(id)?.id, id, `read back ${id.length > 20 ? `${id.slice(0, 8)}…(${id.length})` : id}`);
  t.same(store.list().map((r) => r.id), ids, 'list() has every one, in order');
  for (const name of fs.readdirSync(store.dir)) t.ok(Buffer.byteLength(name) <= 255 && !name.startsWith('.'), `${name.slice(0, 30)}: a name the kernel takes, no leftover temp file`);
  // The index (state-store.ts): two entries per record, names the kernel takes too.
  const index = fs.readdirSync(path.join(store.dir, 'index'));
  t.equal(index.length, 2 * ids.length, 'two index entries per record');
  t.ok(index.every((n) => Buffer.byteLength(n) <= 255), 'index entries: names the kernel takes');
  t.equal(stateFileName('web1'), 'web1.json', 'an ordinary id keeps its readable name');
  t.match(stateFileName('.hidden'), /^@[0-9a-f]{40}\.json$/);
  t.throws(() => stateFileName('.'), /invalid container id/);
  t.throws(() => stateFileName('a/b'), /invalid container id/);
  t.ok(store.remove('.hidden'));
  t.notOk(store.read('.hidden'));
  t.same(store.list().length, ids.length - 1);
  // A file whose record names another id is not that id's.
  fs.copyFileSync(path.join(store.dir, 'web1.json'), path.join(store.dir, 'web9.json'));
  t.throws(() => store.read('web9'), /is not ours/);
  t.notOk(store.list().some((r) => r.id === 'web9'), 'nor listed twice');
});

t.test('parseState: ids runc refuses are refused', async (t) => {
  const state = (id: string): string => JSON.stringify({ ociVersion: '1.0.2', id, status: 'creating', pid: 1, bundle: '/b' });
  for (const id of ['.', '..', '', 'a/b', 'a b', 'x'.repeat(1025)]) t.throws(() => parseState(state(id)), /"id" must be a container id/, JSON.stringify(id.slice(0, 10)));
  for (const id of ['-x', '.x', 'a'.repeat(1024)]) t.equal(parseState(state(id)).id, id);
});
