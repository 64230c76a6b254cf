// The CNI plugin's pure codec (runtime/wire/cni/spec.ts, result.ts) against containernetworking/cni
// SPEC.md §2 (the environment, CNI_ARGS) and §5 (results, VERSION, errors and their codes), with the
// pieces hooks/cni.ts joins to it: the stable name from CNI_ARGS (cniName) and the network config's
// own keys as settings (applySettings, isSettingKey).
import t, { type Test } from 'tap';
import { applySettings, DEFAULTS, isSettingKey, TABLES, type HookConfig } from '../../runtime/core/config';
import { InputError } from '../../runtime/core/errors';
import type { ContainerRecord } from '../../runtime/core/record';
import { cniName } from '../../runtime/system/container-name';
import { dnsLabel } from '../../runtime/ops/dns-records';
import { attachmentResult } from '../../runtime/wire/cni/result';
import {
  CNI_COMMANDS,
  CNI_ERRORS,
  CNI_VERSIONS,
  encodeError,
  encodeVersion,
  errorVersion,
  isNetworkName,
  parseCniArgs,
  parseCniEnv,
  parseNetConf,
  parseResult,
  type CniError,
  type CniResult,
  type Parsed,
} from '../../runtime/wire/cni/spec';

/** SPEC.md §5's well-known codes and ours (100, 101). */
const SPEC_CODES = [1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 101];

const ENV = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c0ffee-1', CNI_NETNS: '/run/netns/cni-1', CNI_IFNAME: 'eth0' } as const;

/** The error of a refusal (a failed assertion when it was accepted). */
function errorOf<T>(t: Test, p: Parsed<T>, what: string): CniError {
  if (p.ok) {
    t.fail(`${what}: accepted, expected a refusal (${JSON.stringify(p.value)?.slice(0, 200)})`);
    return { code: -1, msg: '' };
  }
  t.ok(SPEC_CODES.includes(p.error.code) && !/[\r\n]/.test(p.error.msg) && p.error.msg.length <= 300, `${what}: code ${p.error.code}, one short line`);
  return p.error;
}
/** The value of an acceptance. */
function valueOf<T>(t: Test, p: Parsed<T>, what: string): T {
  if (!p.ok) {
    t.fail(`${what}: refused: ${p.error.code} ${p.error.msg}`);
    return undefined as T;
  }
  return p.value;
}

/** A network config for the plugin: the minimum, and `over` on top. */
const netconf = (over: Record<string, unknown> = {}): string => JSON.stringify({ cniVersion: '1.0.0', name: 'slaac-lan', type: 'oci-slaac-cni', ...over });

// ------------------------------------------------------------------ the environment (§2)

t.test('CNI_COMMAND: each verb with what it requires; anything else is code 4 naming CNI_COMMAND', async (t) => {
  t.same(CNI_COMMANDS, ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS', 'VERSION']);
  for (const command of ['ADD', 'CHECK'] as const) {
    t.strictSame(parseCniEnv({ ...ENV, CNI_COMMAND: command }), { ok: true, value: { command, containerId: 'c0ffee-1', ifname: 'eth0', netns: '/run/netns/cni-1', args: {} } }, command);
  }
  // DEL: CNI_NETNS is optional (the netns may be gone); when given, it is still checked.
  t.strictSame(parseCniEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c0ffee-1', CNI_IFNAME: 'eth0' }), { ok: true, value: { command: 'DEL', containerId: 'c0ffee-1', ifname: 'eth0', args: {} } });
  t.strictSame(parseCniEnv({ ...ENV, CNI_COMMAND: 'DEL' }), { ok: true, value: { command: 'DEL', containerId: 'c0ffee-1', ifname: 'eth0', netns: '/run/netns/cni-1', args: {} } });
  t.match(errorOf(t, parseCniEnv({ ...ENV, CNI_COMMAND: 'DEL', CNI_NETNS: 'netns' }), 'DEL, relative netns'), { code: 4, msg: /^CNI_NETNS "netns" is not an absolute path$/ });
  // GC, STATUS, VERSION: no container; what CNI_CONTAINERID etc. say is not read.
  for (const command of ['GC', 'STATUS', 'VERSION'] as const) {
    t.strictSame(parseCniEnv({ CNI_COMMAND: command }), { ok: true, value: { command, args: {} } }, `${command}, nothing else`);
    t.strictSame(parseCniEnv({ CNI_COMMAND: command, CNI_CONTAINERID: '-bad', CNI_IFNAME: 'a/b', CNI_NETNS: 'rel', CNI_ARGS: 'FOO' }), { ok: true, value: { command, args: {} } }, `${command}: container variables ignored`);
  }
  t.strictSame(errorOf(t, parseCniEnv({}), 'no CNI_COMMAND'), { code: 4, msg: 'CNI_COMMAND must be one of ADD, DEL, CHECK, GC, STATUS, VERSION, got nothing' });
  t.strictSame(errorOf(t, parseCniEnv({ ...ENV, CNI_COMMAND: 'add' }), 'lower case'), { code: 4, msg: 'CNI_COMMAND must be one of ADD, DEL, CHECK, GC, STATUS, VERSION, got "add"' });
  t.strictSame(errorOf(t, parseCniEnv({ ...ENV, CNI_COMMAND: '' }), 'empty'), { code: 4, msg: 'CNI_COMMAND must be one of ADD, DEL, CHECK, GC, STATUS, VERSION, got ""' });
  t.match(errorOf(t, parseCniEnv({ CNI_COMMAND: 'ADD\nDEL' }), 'a newline'), { code: 4, msg: /got "ADD\\nDEL"$/ });
  const long = errorOf(t, parseCniEnv({ CNI_COMMAND: 'X'.repeat(3000) }), 'a long command');
  t.match(long, { code: 4, msg: /^CNI_COMMAND must be one of .*, got "X{59}…\(\d+ chars\)$/ });
  t.ok(long.msg.length < 150, 'the value shown is cut short');
});

t.test('the variables a verb requires: missing or empty is code 4 naming the variable and the verb', async (t) => {
  const cases: [string, Record<string, string | undefined>, string][] = [
    ['ADD', { ...ENV, CNI_CONTAINERID: undefined }, 'CNI_CONTAINERID is required for ADD'],
    ['ADD', { ...ENV, CNI_NETNS: undefined }, 'CNI_NETNS is required for ADD'],
    ['ADD', { ...ENV, CNI_IFNAME: '' }, 'CNI_IFNAME is required for ADD'],
    ['CHECK', { ...ENV, CNI_COMMAND: 'CHECK', CNI_NETNS: '' }, 'CNI_NETNS is required for CHECK'],
    ['CHECK', { ...ENV, CNI_COMMAND: 'CHECK', CNI_CONTAINERID: '' }, 'CNI_CONTAINERID is required for CHECK'],
    ['DEL', { CNI_COMMAND: 'DEL', CNI_IFNAME: 'eth0' }, 'CNI_CONTAINERID is required for DEL'],
    ['DEL', { CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1' }, 'CNI_IFNAME is required for DEL'],
  ];
  for (const [what, env, msg] of cases) t.strictSame(errorOf(t, parseCniEnv(env), msg), { code: 4, msg }, `${what}: ${msg}`);
});

t.test('CNI_CONTAINERID: an alphanumeric, then alphanumerics, "_", "." or "-"; at most 1024', async (t) => {
  for (const id of ['a', '0', 'c0ffee', 'A.b_c-d', '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08', 'a'.repeat(1024)]) {
    t.equal(valueOf(t, parseCniEnv({ ...ENV, CNI_CONTAINERID: id }), id.slice(0, 20))?.containerId, id, `${id.slice(0, 20)} (${id.length})`);
  }
  // "+" is runc's but not CNI's (and hooks/cni.ts joins id and ifname with it).
  for (const id of ['-a', '_a', '.a', '.', '..', 'a b', 'a/b', 'a+b', 'a:b', 'é', 'a\nb', 'a'.repeat(1025)]) {
    const e = errorOf(t, parseCniEnv({ ...ENV, CNI_CONTAINERID: id }), JSON.stringify(id).slice(0, 20));
    t.equal(e.code, 4);
    t.match(e.msg, /^CNI_CONTAINERID ".*(…\(\d+ chars\)|") is not a container id \(a letter or digit, then letters, digits, "_", "\." or "-"\)$/, JSON.stringify(id).slice(0, 20));
  }
  t.strictSame(errorOf(t, parseCniEnv({ ...ENV, CNI_CONTAINERID: 'a'.repeat(4097) }), 'over-long'), { code: 4, msg: 'CNI_CONTAINERID is longer than 4096 characters' });
});

t.test('CNI_IFNAME: 1 to 15 of A-Z a-z 0-9 _ . - (isIfname), not "." or ".."', async (t) => {
  for (const name of ['eth0', 'e', 'net1', 'a.b', 'a_b-c', 'x'.repeat(15)]) t.equal(valueOf(t, parseCniEnv({ ...ENV, CNI_IFNAME: name }), name)?.ifname, name, name);
  // ":" too: the kernel's dev_valid_name() refuses it (and "/", white space).
  for (const name of ['x'.repeat(16), '.', '..', 'a/b', '/', 'eth 0', 'eth0\n', 'é', 'eth0;', 'eth0:1']) {
    const e = errorOf(t, parseCniEnv({ ...ENV, CNI_IFNAME: name }), JSON.stringify(name));
    t.strictSame(e, { code: 4, msg: `CNI_IFNAME ${JSON.stringify(name)} is not an interface name (1 to 15 of A-Z a-z 0-9 _ . -)` }, JSON.stringify(name));
  }
});

t.test('CNI_NETNS: an absolute path without NUL; at most 4096', async (t) => {
  for (const netns of ['/run/netns/cni-1', '/proc/4242/ns/net', '/']) t.equal(valueOf(t, parseCniEnv({ ...ENV, CNI_NETNS: netns }), netns)?.netns, netns);
  for (const netns of ['run/netns/x', './x', ' /x', '/a\u0000b']) {
    t.strictSame(errorOf(t, parseCniEnv({ ...ENV, CNI_NETNS: netns }), JSON.stringify(netns)), { code: 4, msg: `CNI_NETNS ${JSON.stringify(netns)} is not an absolute path` });
  }
  t.strictSame(errorOf(t, parseCniEnv({ ...ENV, CNI_NETNS: `/${'a'.repeat(4096)}` }), 'over-long'), { code: 4, msg: 'CNI_NETNS is longer than 4096 characters' });
  t.equal(valueOf(t, parseCniEnv({ ...ENV, CNI_NETNS: `/${'a'.repeat(4095)}` }), '4096')?.netns?.length, 4096, '4096 is fine');
});

t.test('CNI_ARGS through the environment: parsed for ADD, CHECK, DEL; over-long for any verb', async (t) => {
  t.strictSame(valueOf(t, parseCniEnv({ ...ENV, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;FOO=bar' }), 'args')?.args, { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'default', K8S_POD_NAME: 'web-0' });
  t.strictSame(errorOf(t, parseCniEnv({ ...ENV, CNI_COMMAND: 'DEL', CNI_ARGS: 'FOO=bar' }), 'DEL, unknown key'), { code: 4, msg: 'CNI_ARGS: unknown key "FOO" (set IgnoreUnknown=1 to pass keys for other plugins)' });
  for (const command of CNI_COMMANDS) {
    t.strictSame(errorOf(t, parseCniEnv({ ...ENV, CNI_COMMAND: command, CNI_ARGS: 'A=' + 'b'.repeat(4095) }), command), { code: 4, msg: 'CNI_ARGS is longer than 4096 characters' }, `${command}: over-long CNI_ARGS`);
  }
  // The bound is checked before what a verb requires: every over-long variable is refused, GC's too.
  t.strictSame(errorOf(t, parseCniEnv({ CNI_COMMAND: 'GC', CNI_IFNAME: 'x'.repeat(5000) }), 'GC'), { code: 4, msg: 'CNI_IFNAME is longer than 4096 characters' });
});

// ------------------------------------------------------------------ CNI_ARGS (§2)

t.test('CNI_ARGS: KEY=VALUE pairs separated by ";", empty parts skipped, the Kubernetes keys read', async (t) => {
  t.strictSame(parseCniArgs(''), { ok: true, value: {} });
  t.strictSame(parseCniArgs(';;;'), { ok: true, value: {} });
  t.strictSame(parseCniArgs('K8S_POD_NAME=web-0;;K8S_POD_NAMESPACE=default;'), { ok: true, value: { K8S_POD_NAME: 'web-0', K8S_POD_NAMESPACE: 'default' } });
  t.strictSame(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p;K8S_POD_INFRA_CONTAINER_ID=0123abc;K8S_POD_UID=6f1c-22'), {
    ok: true,
    value: { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'ns', K8S_POD_NAME: 'p', K8S_POD_INFRA_CONTAINER_ID: '0123abc', K8S_POD_UID: '6f1c-22' },
  });
  t.strictSame(parseCniArgs('K8S_POD_NAME=a=b'), { ok: true, value: { K8S_POD_NAME: 'a=b' } }, 'the value runs to the end: "=" in it');
  t.strictSame(parseCniArgs('K8S_POD_NAME='), { ok: true, value: { K8S_POD_NAME: '' } }, 'an empty value');
  t.strictSame(parseCniArgs('K8S_POD_NAME=a;K8S_POD_NAME=b'), { ok: true, value: { K8S_POD_NAME: 'b' } }, 'the last of a key wins');
  t.strictSame(parseCniArgs('K8S_POD_NAME=a b/é'), { ok: true, value: { K8S_POD_NAME: 'a b/é' } }, 'a value is not restricted but for control characters');
});

t.test('CNI_ARGS: a part without "=", a bad key, a control character: code 4', async (t) => {
  for (const part of ['FOO', '=x', '=', 'K8S_POD_NAME']) {
    t.strictSame(errorOf(t, parseCniArgs(`K8S_POD_NAME=a;${part}`), part), { code: 4, msg: `CNI_ARGS: ${JSON.stringify(part)} is not KEY=VALUE` }, part);
  }
  for (const part of ['a-b=1', 'a b=1', 'é=1', 'K8S_POD_NAME=a\u0007', 'K8S_POD_NAME=a\tb', 'K8S_POD_NAME=\u007f']) {
    t.strictSame(errorOf(t, parseCniArgs(`IgnoreUnknown=1;${part}`), JSON.stringify(part)), { code: 4, msg: `CNI_ARGS: ${JSON.stringify(part)} is not KEY=VALUE (a key of letters, digits and "_"; no control characters)` }, JSON.stringify(part));
  }
});

t.test('CNI_ARGS: an unknown key is an error, unless IgnoreUnknown is 1 or true (anywhere in the list)', async (t) => {
  t.strictSame(errorOf(t, parseCniArgs('K8S_POD_NAME=p;FOO=bar'), 'FOO'), { code: 4, msg: 'CNI_ARGS: unknown key "FOO" (set IgnoreUnknown=1 to pass keys for other plugins)' });
  t.strictSame(errorOf(t, parseCniArgs('k8s_pod_name=p'), 'case'), { code: 4, msg: 'CNI_ARGS: unknown key "k8s_pod_name" (set IgnoreUnknown=1 to pass keys for other plugins)' }, 'keys are case-sensitive');
  for (const yes of ['1', 'true', 'TRUE', 'True']) {
    t.strictSame(parseCniArgs(`FOO=bar;IgnoreUnknown=${yes};K8S_POD_NAME=p;MAC=02:00:00:00:00:01`), { ok: true, value: { IgnoreUnknown: yes, K8S_POD_NAME: 'p' } }, `IgnoreUnknown=${yes}, after the unknown key`);
  }
  for (const no of ['0', 'false', 'yes', '', ' 1']) {
    t.match(errorOf(t, parseCniArgs(`IgnoreUnknown=${no};FOO=bar`), `IgnoreUnknown=${no}`), { code: 4, msg: /unknown key "FOO"/ }, `IgnoreUnknown=${JSON.stringify(no)} ignores nothing`);
  }
  t.strictSame(parseCniArgs('IgnoreUnknown=0'), { ok: true, value: { IgnoreUnknown: '0' } }, 'IgnoreUnknown itself is known');
});

// ------------------------------------------------------------------ the network config (§1, §3)

t.test('network config: the minimum, and the settings (every key not CNI\'s) collected', async (t) => {
  t.strictSame(parseNetConf(netconf(), 'ADD'), { ok: true, value: { cniVersion: '1.0.0', name: 'slaac-lan', type: 'oci-slaac-cni', settings: {} } });
  t.strictSame(parseNetConf(netconf({ cniVersion: '1.1.0' }), 'STATUS'), { ok: true, value: { cniVersion: '1.1.0', name: 'slaac-lan', type: 'oci-slaac-cni', settings: {} } });
  const conf = valueOf(t, parseNetConf(netconf({ parent: 'eth1', mode: 'ipvlan', ipvlan_mode: 'l3', dad_transmits: 2, host_link: true, bogus: [1], config: '/etc/oci-slaac-hook/lan.toml' }), 'ADD'), 'settings');
  t.strictSame(conf?.settings, { parent: 'eth1', mode: 'ipvlan', ipvlan_mode: 'l3', dad_transmits: 2, host_link: true, bogus: [1] }, 'settings as given, unknown ones too (hooks/cni.ts refuses those with code 2)');
  t.equal(conf?.configFile, '/etc/oci-slaac-hook/lan.toml', '"config" is the config.toml, not a setting');
  // CNI's own keys (SPEC.md §1, §3) are never settings, whatever their value.
  const cniKeys = {
    cniVersions: ['1.0.0', '1.1.0'],
    args: { cni: { labels: [] } },
    ipMasq: true,
    dns: { nameservers: ['2001:db8::53'] },
    runtimeConfig: { mac: '02:00:00:00:00:09' },
    capabilities: { mac: true },
    disableCheck: true,
    disableGC: false,
    'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }],
    'cni.dev/attachments': [],
  };
  for (const command of ['ADD', 'DEL', 'CHECK', 'GC', 'STATUS'] as const) {
    const c = valueOf(t, parseNetConf(netconf({ ...cniKeys, parent: 'eth1' }), command), command);
    t.strictSame(c?.settings, { parent: 'eth1' }, `${command}: CNI's keys are not settings`);
  }
});

t.test('network config: not JSON, not an object (6); cniVersion (1); name, type (7); ipam (2)', async (t) => {
  for (const text of ['', 'not json', '{"cniVersion":', '{\'a\':1}', '\ufeff{}']) {
    t.strictSame(errorOf(t, parseNetConf(text, 'ADD'), JSON.stringify(text)), { code: 6, msg: 'network configuration on stdin is not valid JSON' }, JSON.stringify(text));
  }
  for (const text of ['null', '[]', '[{}]', '"x"', '3', 'true']) {
    t.strictSame(errorOf(t, parseNetConf(text, 'ADD'), text), { code: 6, msg: 'network configuration on stdin is not a JSON object' }, text);
  }
  t.strictSame(errorOf(t, parseNetConf('{"name":"n","type":"t"}', 'ADD'), 'no cniVersion'), { code: 1, msg: 'cniVersion missing: this plugin speaks 1.0.0, 1.1.0' });
  for (const v of ['0.4.0', '0.3.1', '1.0', '2.0.0', '', 1, null]) {
    t.strictSame(errorOf(t, parseNetConf(netconf({ cniVersion: v }), 'ADD'), JSON.stringify(v)), { code: 1, msg: `cniVersion ${JSON.stringify(v)}: this plugin speaks 1.0.0, 1.1.0` }, `cniVersion ${JSON.stringify(v)}`);
  }
  t.strictSame(errorOf(t, parseNetConf('{"cniVersion":"1.0.0","type":"t"}', 'ADD'), 'no name'), { code: 7, msg: 'network name missing is not a network name (a letter or digit, then letters, digits, "_", "." or "-")' });
  for (const name of ['', '-lan', '.lan', 'a b', 'a/b', 'é', 'x'.repeat(256), 5, null, ['lan']]) {
    const e = errorOf(t, parseNetConf(netconf({ name }), 'ADD'), JSON.stringify(name).slice(0, 20));
    t.equal(e.code, 7, `name ${JSON.stringify(name).slice(0, 20)}`);
    t.match(e.msg, /^network name .* is not a network name/);
  }
  t.equal(valueOf(t, parseNetConf(netconf({ name: 'N'.repeat(255) }), 'ADD'), '255')?.name.length, 255, 'a name of 255 is fine');
  for (const type of [undefined, '', 5, null, {}]) {
    t.strictSame(errorOf(t, parseNetConf(netconf({ type }), 'ADD'), `type ${JSON.stringify(type)}`), { code: 7, msg: 'network configuration has no "type"' }, `type ${JSON.stringify(type)}`);
  }
  // §5 code 2: "The error message must contain the key and value of the unsupported field."
  t.strictSame(errorOf(t, parseNetConf(netconf({ ipam: { type: 'host-local' } }), 'ADD'), 'ipam'), {
    code: 2,
    msg: '"ipam": {"type":"host-local"}: addresses come from the router\'s advertisement (SLAAC), no IPAM plugin is used',
  });
  t.match(errorOf(t, parseNetConf(netconf({ ipam: {} }), 'DEL'), 'ipam {}'), { code: 2, msg: /^"ipam": \{\}: / }, 'for every verb, even empty');
  const big = errorOf(t, parseNetConf(netconf({ ipam: { type: 'host-local', ranges: [[{ subnet: '2001:db8::/64' }]], routes: [{ dst: '::/0' }], x: 'y'.repeat(500) } }), 'ADD'), 'a big ipam');
  t.ok(big.code === 2 && big.msg.length < 200 && big.msg.includes('…'), 'a big value is cut short');
  // Which error first: version, name, type, ipam, config, prevResult.
  t.equal(errorOf(t, parseNetConf(JSON.stringify({ cniVersion: '9', name: '-', ipam: {}, config: 'x' }), 'ADD'), 'all bad').code, 1);
  t.equal(errorOf(t, parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: '-', ipam: {}, config: 'x' }), 'ADD'), 'name bad').code, 7);
  t.equal(errorOf(t, parseNetConf(netconf({ ipam: {}, config: 'x', prevResult: 5 }), 'ADD'), 'ipam and config bad').code, 2);
});

t.test('network config: "config" is the absolute path of a config.toml (7 otherwise)', async (t) => {
  t.equal(valueOf(t, parseNetConf(netconf({ config: '/etc/a.toml' }), 'ADD'), 'abs')?.configFile, '/etc/a.toml');
  t.equal(valueOf(t, parseNetConf(netconf({ config: `/${'a'.repeat(4095)}` }), 'ADD'), '4096')?.configFile?.length, 4096);
  for (const config of ['etc/a.toml', './a.toml', '', 5, null, ['/etc/a.toml'], '/a\u0000b', `/${'a'.repeat(4096)}`]) {
    const e = errorOf(t, parseNetConf(netconf({ config }), 'ADD'), JSON.stringify(config).slice(0, 20));
    t.equal(e.code, 7);
    t.match(e.msg, /^"config" must be the absolute path of a config\.toml, got /, JSON.stringify(config).slice(0, 20));
  }
});

t.test('prevResult: kept as given when its lists are lists of objects and its interfaces are named', async (t) => {
  const prev = { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', sandbox: '/run/netns/cni-1', extra: 1 }], ips: [{ address: '10.88.0.5/16', interface: 0 }], routes: [{ dst: '0.0.0.0/0' }], dns: { nameservers: ['10.88.0.1'] }, 'x-vendor': { a: [1] } };
  t.strictSame(valueOf(t, parseNetConf(netconf({ prevResult: prev }), 'ADD'), 'chained')?.prevResult, prev, 'unknown keys pass through');
  const withNull = valueOf(t, parseNetConf(netconf({ prevResult: null }), 'DEL'), 'null');
  t.notOk(withNull && 'prevResult' in withNull, 'null: no prevResult');
  t.strictSame(valueOf(t, parseNetConf(netconf({ prevResult: {} }), 'DEL'), '{}')?.prevResult, {}, 'an empty one (DEL after a failed ADD)');
  const bad: [unknown, string][] = [
    [5, '"prevResult" is not a JSON object'],
    [[], '"prevResult" is not a JSON object'],
    ['x', '"prevResult" is not a JSON object'],
    [{ interfaces: {} }, '"prevResult.interfaces" must be an array of objects'],
    [{ interfaces: [null] }, '"prevResult.interfaces" must be an array of objects'],
    [{ interfaces: [{ name: 'eth0' }, 'eth1'] }, '"prevResult.interfaces" must be an array of objects'],
    [{ ips: [1] }, '"prevResult.ips" must be an array of objects'],
    [{ ips: null }, '"prevResult.ips" must be an array of objects'],
    [{ routes: 'x' }, '"prevResult.routes" must be an array of objects'],
    [{ routes: [[]] }, '"prevResult.routes" must be an array of objects'],
    [{ interfaces: [{ mac: '02:00:00:00:00:01' }] }, '"prevResult.interfaces": every interface needs a "name"'],
    [{ interfaces: [{ name: 7 }] }, '"prevResult.interfaces": every interface needs a "name"'],
    [{ dns: [] }, '"prevResult.dns" is not a JSON object'],
    [{ dns: 'x' }, '"prevResult.dns" is not a JSON object'],
    [{ dns: null }, '"prevResult.dns" is not a JSON object'],
  ];
  for (const [prevResult, msg] of bad) {
    for (const command of ['ADD', 'CHECK', 'DEL'] as const) t.strictSame(errorOf(t, parseNetConf(netconf({ prevResult }), command), msg), { code: 7, msg }, `${command} ${JSON.stringify(prevResult)}`);
    t.strictSame(parseResult(prevResult), { ok: false, error: { code: 7, msg } }, `parseResult ${JSON.stringify(prevResult)}`);
  }
});

t.test('prevResult.dns: lists that attachmentResult spreads must be lists of strings', async (t) => {
  // BUG (spec.ts parseResult / result.ts): parseResult checks only that "dns" is an object; a
  // number or object as nameservers or search then throws a TypeError in attachmentResult — after
  // the attach, in hooks/cni.ts's add() — and a string is spread into its characters.
  const record = fixtureRecord();
  for (const dns of [{ nameservers: 5 }, { search: {} }, { nameservers: 'abc' }]) {
    const p = parseNetConf(netconf({ prevResult: { dns } }), 'ADD');
    t.equal(p.ok ? 0 : p.error.code, 7, `prevResult.dns ${JSON.stringify(dns)}: code 7`);
    if (p.ok && p.value.prevResult) {
      const prevResult = p.value.prevResult;
      t.doesNotThrow(() => attachmentResult(record, '/run/netns/cni-1', '1.0.0', prevResult), `attachmentResult never throws on an accepted prevResult (${JSON.stringify(dns)})`);
    }
  }
});

t.test('GC: "cni.dev/valid-attachments" read (GC only), each {containerID, ifname}', async (t) => {
  const list = [{ containerID: 'c1', ifname: 'eth0' }, { containerID: 'c2', ifname: 'net1', extra: true }];
  t.strictSame(valueOf(t, parseNetConf(netconf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': list }), 'GC'), 'GC')?.validAttachments, [
    { containerID: 'c1', ifname: 'eth0' },
    { containerID: 'c2', ifname: 'net1' },
  ]);
  t.strictSame(valueOf(t, parseNetConf(netconf({ 'cni.dev/valid-attachments': [] }), 'GC'), 'empty')?.validAttachments, [], 'an empty list: none valid');
  const absent = valueOf(t, parseNetConf(netconf(), 'GC'), 'absent');
  t.notOk(absent && 'validAttachments' in absent, 'absent: undefined (hooks/cni.ts refuses to remove anything)');
  t.strictSame(errorOf(t, parseNetConf(netconf({ 'cni.dev/valid-attachments': {} }), 'GC'), 'an object'), { code: 7, msg: '"cni.dev/valid-attachments" must be an array' });
  t.strictSame(errorOf(t, parseNetConf(netconf({ 'cni.dev/valid-attachments': null }), 'GC'), 'null'), { code: 7, msg: '"cni.dev/valid-attachments" must be an array' });
  for (const a of ['c1', null, [], { containerID: 'c1' }, { ifname: 'eth0' }, { containerID: 1, ifname: 'eth0' }, { containerID: 'c1', ifname: null }]) {
    t.strictSame(errorOf(t, parseNetConf(netconf({ 'cni.dev/valid-attachments': [{ containerID: 'ok', ifname: 'eth0' }, a] }), 'GC'), JSON.stringify(a)), { code: 7, msg: `"cni.dev/valid-attachments": ${JSON.stringify(a)} is not {"containerID": …, "ifname": …}` }, JSON.stringify(a));
  }
  // Other verbs: the key is CNI's, neither read nor checked.
  for (const command of ['ADD', 'DEL', 'CHECK', 'STATUS'] as const) {
    const c = valueOf(t, parseNetConf(netconf({ 'cni.dev/valid-attachments': 'garbage' }), command), command);
    t.notOk(c && 'validAttachments' in c, `${command}: not read`);
  }
});

t.test('never a throw: deep nesting in a value an error quotes is refused, not a RangeError', async (t) => {
  // BUG (spec.ts `quoted`): JSON.stringify of the whole value, recursively; a value nested some
  // thousands deep (well within the 1 MiB of stdin, and JSON.parse takes it) overflows the stack.
  // parseNetConf throws RangeError, runCni (called outside its try) with it, and the plugin exits
  // 1 with no error result on stdout (§5: it should print one).
  const deep = `${'['.repeat(50000)}${']'.repeat(50000)}`;
  const cases: [string, string, number][] = [
    ['ipam', `{"cniVersion":"1.0.0","name":"n","type":"t","ipam":${deep}}`, 2],
    ['config', `{"cniVersion":"1.0.0","name":"n","type":"t","config":${deep}}`, 7],
    ['cniVersion', `{"cniVersion":${deep},"name":"n","type":"t"}`, 1],
    ['name', `{"cniVersion":"1.0.0","name":${deep},"type":"t"}`, 7],
    ['a valid attachment', `{"cniVersion":"1.1.0","name":"n","type":"t","cni.dev/valid-attachments":[${deep}]}`, 7],
  ];
  for (const [what, text, code] of cases) {
    let p: Parsed<unknown> | undefined;
    t.doesNotThrow(() => (p = parseNetConf(text, 'GC')), `${what}: no throw`);
    if (p) t.match(p, { ok: false, error: { code } }, `${what}: code ${code}`);
  }
  // A prevResult key nested as deep passes through to the ADD result, which hooks/cni.ts prints
  // with JSON.stringify after the attach: refuse it (7) before, or the result must be printable.
  t.doesNotThrow(() => {
    const p = parseNetConf(`{"cniVersion":"1.0.0","name":"n","type":"t","prevResult":{"x-vendor":${deep}}}`, 'ADD');
    if (p.ok) JSON.stringify(attachmentResult(fixtureRecord(), '/run/netns/cni-1', p.value.cniVersion, p.value.prevResult));
  }, 'a prevResult too deep to print back: refused, or printed');
  // Deep nesting where nothing quotes it is fine already.
  t.equal(valueOf(t, parseNetConf(`{"cniVersion":"1.0.0","name":"n","type":"t","parent":${deep}}`, 'ADD'), 'a setting')?.name, 'n');
  t.equal(errorVersion(`{"cniVersion":${deep}}`), '1.1.0');
  t.equal(JSON.parse(encodeVersion(`{"cniVersion":${deep}}`)).cniVersion, '1.1.0');
});

t.test('"__proto__" in a network config is a key like any other, not the settings\' prototype', async (t) => {
  // BUG (minor, spec.ts parseNetConf): `out.settings[key] = value` with key "__proto__" (JSON.parse
  // makes it an own key) sets the settings object's prototype instead: the field vanishes from
  // Object.entries, so hooks/cni.ts never refuses it as unsupported (code 2) — silently ignored.
  const c = valueOf(t, parseNetConf('{"cniVersion":"1.0.0","name":"n","type":"t","__proto__":{"parent":"eth9"},"mode":"ipvlan"}', 'ADD'), '__proto__');
  if (c) {
    t.equal(Object.getPrototypeOf(c.settings), Object.prototype, 'the settings\' prototype untouched');
    t.ok(Object.keys(c.settings).includes('__proto__'), '"__proto__" kept as a key (so that the caller refuses it)');
    t.ok(Object.keys(c.settings).includes('mode'));
  }
});

t.test('isNetworkName', async (t) => {
  for (const n of ['a', '0', 'lan', 'A-1_b.c', 'x'.repeat(255)]) t.ok(isNetworkName(n), n.slice(0, 20));
  for (const n of ['', '-a', '_a', '.a', 'a b', 'a/b', 'é', 'a\n', 'x'.repeat(256), 5, null, undefined, ['a']]) t.notOk(isNetworkName(n), JSON.stringify(n)?.slice(0, 20));
});

// ------------------------------------------------------------------ answers (§5)

t.test('encodeError: one line of JSON with the version, code, msg and details when any', async (t) => {
  t.equal(encodeError('1.0.0', { code: 7, msg: 'bad "x"\nline' }), '{"cniVersion":"1.0.0","code":7,"msg":"bad \\"x\\"\\nline"}');
  t.equal(encodeError('1.1.0', { code: 101, msg: 'm', details: 'longer' }), '{"cniVersion":"1.1.0","code":101,"msg":"m","details":"longer"}');
  t.equal(encodeError('1.1.0', { code: 4, msg: 'm', details: '' }), '{"cniVersion":"1.1.0","code":4,"msg":"m"}', 'no empty details');
  t.same(Object.values(CNI_ERRORS).sort((a, b) => a - b), SPEC_CODES, 'the codes are §5\'s and ours');
});

t.test('encodeVersion: the version asked, echoed; supportedVersions 1.0.0 and 1.1.0; garbage → 1.1.0', async (t) => {
  t.same(CNI_VERSIONS, ['1.0.0', '1.1.0']);
  for (const v of ['1.0.0', '1.1.0', '0.4.0', '0.3.1', '0.1.0', '2.0.0', '1234.0.9999']) {
    t.equal(encodeVersion(JSON.stringify({ cniVersion: v })), `{"cniVersion":"${v}","supportedVersions":["1.0.0","1.1.0"]}`, `asked ${v}`);
  }
  for (const stdin of ['', 'garbage', '{', '[]', 'null', '"1.0.0"', '{}', '{"cniVersion":5}', '{"cniVersion":"1.0"}', '{"cniVersion":"v1.0.0"}', '{"cniVersion":"1.0.0 "}', '{"cniVersion":"12345.0.0"}', '{"cniVersion":"1.0.0\\n"}', '{"cniVersion":"١.٠.٠"}']) {
    t.equal(encodeVersion(stdin), '{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}', `stdin ${JSON.stringify(stdin)}`);
  }
  t.equal(encodeVersion(netconf({ cniVersion: '0.4.0', ipam: {} })), '{"cniVersion":"0.4.0","supportedVersions":["1.0.0","1.1.0"]}', 'a full network config: only its version read');
});

t.test('errorVersion: the config\'s version when ours, else 1.1.0', async (t) => {
  t.equal(errorVersion('{"cniVersion":"1.0.0"}'), '1.0.0');
  t.equal(errorVersion(netconf({ cniVersion: '1.1.0', ipam: {} })), '1.1.0');
  for (const stdin of ['{"cniVersion":"0.4.0"}', '{"cniVersion":"2.0.0"}', '{"cniVersion":1}', '{}', '[]', '', 'garbage', '{"cniVersion":"1.0.0"']) t.equal(errorVersion(stdin), '1.1.0', JSON.stringify(stdin));
});

// ------------------------------------------------------------------ the ADD result (§5)

/** A record as attach leaves it: two global addresses, a default and an RFC 4191 route, RDNSS and DNSSL. */
function fixtureRecord(over: Partial<ContainerRecord> = {}): ContainerRecord {
  const record: ContainerRecord = {
    version: 1,
    id: 'c0ffee-1+eth0',
    phase: 'attached',
    ledger: [
      { kind: 'link', alias: 'oci-slaac-hook:c0ffee-1+eth0', madeAs: 'osh-tmp1', index: 7, name: 'eth0', parentIndex: 2, linkKind: 'macvlan', mode: 'bridge' },
      { kind: 'address', index: 7, address: 'fe80::5c0:ffff:fe01:2', prefixLength: 64 },
      { kind: 'address', index: 7, address: '2001:db8:1::5c0:1', prefixLength: 64 },
      { kind: 'address', index: 7, address: '2001:db8:2::5c0:2', prefixLength: 64 },
      { kind: 'route', index: 7, destination: '::/0', gateway: 'fe80::1' },
      { kind: 'route', index: 7, destination: '2001:db8:99::/48', gateway: 'fe80::1' },
      { kind: 'dns', name: 'web-0.default.lab.example' },
    ],
    name: 'web-0.default',
    nameSource: 'kubernetes',
    cni: { network: 'slaac-lan', containerId: 'c0ffee-1', ifname: 'eth0' },
    netns: { path: '/run/netns/cni-1', id: '4:4026532999' },
    interface: { name: 'eth0', index: 7, mac: '02:5c:0f:01:02:03', kind: 'macvlan', mode: 'bridge' },
    parent: 'enp1s0',
    linkLocal: 'fe80::5c0:ffff:fe01:2',
    linkLocalDad: 'verified',
    addresses: [
      { address: '2001:db8:1::5c0:1', prefix: '2001:db8:1::/64', prefixLength: 64, dadCounter: 0, validLifetime: 86400, preferredLifetime: 14400, dad: 'verified' },
      { address: '2001:db8:2::5c0:2', prefix: '2001:db8:2::/64', prefixLength: 64, dadCounter: null, validLifetime: 'infinite', preferredLifetime: 'infinite', dad: 'optimistic' },
    ],
    retransMs: 1000,
    router: { address: 'fe80::1', mac: '02:00:00:00:00:01', lifetime: 1800, preference: 'medium' },
    mtu: 1400,
    rdnss: ['2001:db8::53', '2001:db8::54'],
    dnssl: ['lab.example', 'example.org'],
    routes: ['::/0', '2001:db8:99::/48'],
    timings: { raMs: 3, dadMs: 1001, totalMs: 1010 },
    raAt: 123456,
    since: '2026-11-30T12:00:00.000Z',
    ...over,
  };
  return record;
}

const OURS_IPS = (index: number) => [
  { address: '2001:db8:1::5c0:1/64', gateway: 'fe80::1', interface: index },
  { address: '2001:db8:2::5c0:2/64', gateway: 'fe80::1', interface: index },
];
const OURS_ROUTES = [
  { dst: '::/0', gw: 'fe80::1' },
  { dst: '2001:db8:99::/48', gw: 'fe80::1' },
];

t.test('attachmentResult standalone: one interface (mac, sandbox), its addresses, the ledger\'s routes, RDNSS/DNSSL', async (t) => {
  const record = fixtureRecord();
  const before = structuredClone(record);
  const r10 = attachmentResult(record, '/run/netns/cni-1', '1.0.0');
  t.strictSame(JSON.parse(JSON.stringify(r10)), {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: '02:5c:0f:01:02:03', sandbox: '/run/netns/cni-1' }],
    ips: OURS_IPS(0),
    routes: OURS_ROUTES,
    dns: { nameservers: ['2001:db8::53', '2001:db8::54'], search: ['lab.example', 'example.org'] },
  });
  t.notOk('mtu' in (r10.interfaces?.[0] ?? {}), '1.0.0 has no interface mtu');
  const r11 = attachmentResult(record, '/run/netns/cni-1', '1.1.0');
  t.strictSame(r11.interfaces, [{ name: 'eth0', mac: '02:5c:0f:01:02:03', mtu: 1400, sandbox: '/run/netns/cni-1' }], '1.1.0: the RA\'s MTU');
  t.equal(r11.cniVersion, '1.1.0');
  const noMtu = attachmentResult(fixtureRecord({ mtu: null }), '/proc/42/ns/net', '1.1.0');
  t.notOk('mtu' in (noMtu.interfaces?.[0] ?? {}), '1.1.0, no MTU in the RA: none');
  t.equal(noMtu.interfaces?.[0]?.sandbox, '/proc/42/ns/net', 'the sandbox is CNI_NETNS as given');
  t.strictSame(record, before, 'the record untouched');
  // Routes are the ledger's route effects (what was made), not record.routes.
  const bare = attachmentResult(fixtureRecord({ ledger: [], rdnss: [], dnssl: [], routes: ['::/0'] }), '/n', '1.0.0');
  t.strictSame(JSON.parse(JSON.stringify(bare)), { cniVersion: '1.0.0', interfaces: [{ name: 'eth0', mac: '02:5c:0f:01:02:03', sandbox: '/n' }], ips: OURS_IPS(0), routes: [], dns: {} }, 'no route effect, no DNS: empty routes and dns');
  t.strictSame(attachmentResult(fixtureRecord({ rdnss: [], dnssl: ['lab.example'] }), '/n', '1.0.0').dns, { search: ['lab.example'] }, 'DNSSL alone');
  t.strictSame(attachmentResult(fixtureRecord({ addresses: [] }), '/n', '1.0.0').ips, [], 'no global address: no ips');
  t.ok(!JSON.stringify(r11).includes('\n'), 'one line as printed');
});

t.test('attachmentResult chained: the previous result first, ours appended with the right interface index', async (t) => {
  const prev: CniResult = {
    cniVersion: '1.0.0',
    interfaces: [
      { name: 'cni-podman0', mac: '0a:58:0a:58:00:01' },
      { name: 'veth1234', mac: '0a:58:0a:58:00:02' },
      { name: 'eth0', mac: '0a:58:0a:58:00:05', sandbox: '/run/netns/cni-1' },
    ],
    ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2 }],
    routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }],
    dns: { nameservers: ['10.88.0.1', '2001:db8::53'], domain: 'dns.podman', search: ['dns.podman', 'lab.example'], options: ['ndots:5'] },
    'x-vendor': { keep: [1, 2] },
  };
  const before = structuredClone(prev);
  const record = fixtureRecord({ interface: { name: 'eth1', index: 8, mac: '02:5c:0f:01:02:04', kind: 'macvlan', mode: 'bridge' } });
  const r = attachmentResult(record, '/run/netns/cni-1', '1.1.0', prev);
  t.strictSame(JSON.parse(JSON.stringify(r)), {
    cniVersion: '1.1.0',
    interfaces: [...(before.interfaces ?? []), { name: 'eth1', mac: '02:5c:0f:01:02:04', mtu: 1400, sandbox: '/run/netns/cni-1' }],
    ips: [{ address: '10.88.0.5/16', gateway: '10.88.0.1', interface: 2 }, ...OURS_IPS(3)],
    routes: [{ dst: '0.0.0.0/0', gw: '10.88.0.1' }, ...OURS_ROUTES],
    dns: { nameservers: ['10.88.0.1', '2001:db8::53', '2001:db8::54'], domain: 'dns.podman', search: ['dns.podman', 'lab.example', 'example.org'], options: ['ndots:5'] },
    'x-vendor': { keep: [1, 2] },
  });
  t.strictSame(prev, before, 'the previous result untouched');
  // The version is the one asked, whatever the previous plugin wrote.
  t.equal(attachmentResult(record, '/n', '1.0.0', { cniVersion: '1.1.0' }).cniVersion, '1.0.0');
  // A previous result without interfaces (a plugin that made none): ours is index 0, its lists kept.
  const noIf = attachmentResult(fixtureRecord(), '/n', '1.0.0', { ips: [{ address: '192.0.2.9/24' }], 'x-other': true });
  t.strictSame(noIf.interfaces, [{ name: 'eth0', mac: '02:5c:0f:01:02:03', sandbox: '/n' }]);
  t.strictSame(noIf.ips, [{ address: '192.0.2.9/24' }, ...OURS_IPS(0)]);
  t.equal(noIf['x-other'], true);
  // Nothing of ours for DNS: the previous dns as it was.
  t.strictSame(attachmentResult(fixtureRecord({ rdnss: [], dnssl: [] }), '/n', '1.0.0', { dns: { domain: 'x', options: ['a'] } }).dns, { domain: 'x', options: ['a'] });
  // Through parseNetConf, as hooks/cni.ts does it.
  const conf = valueOf(t, parseNetConf(netconf({ prevResult: before }), 'ADD'), 'chained conf');
  if (conf) t.strictSame(attachmentResult(record, '/run/netns/cni-1', conf.cniVersion, conf.prevResult).interfaces?.[3], { name: 'eth1', mac: '02:5c:0f:01:02:04', sandbox: '/run/netns/cni-1' });
});

// ------------------------------------------------------------------ the stable name from CNI_ARGS

t.test('cniName: pod and namespace → "<pod>.<ns>" (kubernetes, a two-label DNS name); pod alone → cni; neither → the id', async (t) => {
  t.strictSame(cniName('c0ffee-1', 'web-0', 'default'), { name: 'web-0.default', source: 'kubernetes', dnsLabel: 'web-0.default' });
  t.strictSame(cniName('c0ffee-1', 'Web_0', 'kube-system'), { name: 'Web_0.kube-system', source: 'kubernetes', dnsLabel: 'web-0.kube-system' }, 'each label made a DNS label');
  t.strictSame(cniName('c0ffee-1', 'web.0', 'default'), { name: 'web.0.default', source: 'kubernetes', dnsLabel: 'web-0.default' }, 'a dot in the pod name stays in one label');
  t.strictSame(cniName('c0ffee-1', 'web', undefined), { name: 'web', source: 'cni' });
  t.strictSame(cniName('c0ffee-1', 'web', ''), { name: 'web', source: 'cni' }, 'an empty namespace is none');
  t.strictSame(cniName('c0ffee-1', 'a b/é', undefined), { name: 'a b/é', source: 'cni' }, 'pod alone: the runtime\'s name, taken as it is');
  t.strictSame(cniName('c0ffee-1', undefined, 'default'), { name: 'c0ffee-1', source: 'id' }, 'a namespace alone is no name');
  t.strictSame(cniName('c0ffee-1', '', ''), { name: 'c0ffee-1', source: 'id' });
  t.strictSame(cniName('c0ffee-1', undefined, undefined), { name: 'c0ffee-1', source: 'id' });
  t.strictSame(cniName('c1', 'p'.repeat(255), undefined), { name: 'p'.repeat(255), source: 'cni' }, '255 is fine');
});

t.test('cniName: over-long → InputError; a name that makes no DNS label fails only where a label is published', async (t) => {
  t.throws(() => cniName('c1', 'p'.repeat(256), undefined), new InputError('CNI_ARGS K8S_POD_NAME is longer than 255 characters'));
  t.throws(() => cniName('c1', 'p'.repeat(200), 'n'.repeat(55)), new InputError('CNI_ARGS K8S_POD_NAME and K8S_POD_NAMESPACE are longer than 255 characters together'));
  // Kubernetes allows pod names of 253 characters: the name stands (its address, its MAC); only a
  // DNS label cannot be made of it, which is an error where one is published ([dns]).
  for (const [pod, ns, why] of [['web 0', 'default', /"web 0" cannot be made a DNS label/], ['web', 'de/fault', /"de\/fault" cannot be made a DNS label/], ['p'.repeat(64), 'default', /64 characters, at most 63/]] as const) {
    const n = cniName('c1', pod, ns);
    t.equal(n.name, `${pod}.${ns}`, `${pod}.${ns}: the name stands`);
    t.equal(n.dnsLabel, undefined);
    t.match(n.labelError, why, 'the label\'s error kept');
    t.throws(() => dnsLabel(n, {}), why, 'dnsLabel() throws it');
    t.equal(dnsLabel(n, { 'oci-slaac-hook.dns_name': 'web0' }), 'web0', 'an explicit label still works');
  }
});

// ------------------------------------------------------------------ the network config's settings

t.test('applySettings: config.toml\'s top-level keys, typed or as strings, in range, naming the key', async (t) => {
  const base: HookConfig = { ...DEFAULTS, parent: 'eth0' };
  const before = structuredClone(base);
  const cfg = applySettings(base, { parent: 'eth1', mode: 'ipvlan', ipvlan_mode: 'l3s', dad_transmits: 3, ra_timeout_ms: '2500', host_link: true, enable: 'false', network_id: 'lan-7' }, 'network slaac-lan');
  t.match(cfg, { parent: 'eth1', mode: 'ipvlan', ipvlan_mode: 'l3s', dad_transmits: 3, ra_timeout_ms: 2500, host_link: true, enable: false, network_id: 'lan-7' });
  t.strictSame(base, before, 'the base untouched');
  t.strictSame(applySettings(base, {}, 'x'), base, 'nothing: the base\'s values');
  t.equal(applySettings(base, { dad_transmits: '10' }, 'n').dad_transmits, 10, 'a number as a string');
  t.equal(applySettings(base, { dad_transmits: 1 }, 'n').dad_transmits, 1, 'a number as a number');
  t.throws(() => applySettings(base, { ra_timeout_ms: 100000 }, 'network slaac-lan'), new InputError('network slaac-lan: ra_timeout_ms must be an integer in 100..30000, got 100000'));
  t.throws(() => applySettings(base, { ra_timeout_ms: '99' }, 'network slaac-lan'), new InputError('network slaac-lan: ra_timeout_ms must be an integer in 100..30000, got "99"'));
  t.throws(() => applySettings(base, { dad_transmits: 0 }, 'n'), new InputError('n: dad_transmits must be an integer in 1..10, got 0'));
  t.throws(() => applySettings(base, { dad_transmits: 1.5 }, 'n'), /n: dad_transmits must be an integer in 1\.\.10, got 1\.5/);
  t.throws(() => applySettings(base, { dad_transmits: '1e1' }, 'n'), /dad_transmits must be an integer/);
  t.throws(() => applySettings(base, { dad_transmits: true }, 'n'), /dad_transmits must be an integer in 1\.\.10, got true/);
  t.throws(() => applySettings(base, { l3_table: -1 }, 'n'), /l3_table must be an integer in 1\.\.2147483647/);
  t.throws(() => applySettings(base, { host_link: 'yes' }, 'n'), new InputError('n: host_link must be true or false, got "yes"'));
  t.throws(() => applySettings(base, { mode: 'bridge' }, 'n'), new InputError('n: mode must be one of macvlan, ipvlan, got "bridge"'));
  t.throws(() => applySettings(base, { parent: 5 }, 'n'), new InputError('n: parent must be a string, got 5'));
  t.throws(() => applySettings(base, { network_id: 'a\nb' }, 'n'), /network_id must not contain control characters/);
  t.throws(() => applySettings(base, { bogus: 1 }, 'network slaac-lan'), new InputError('network slaac-lan: unknown key "bogus"'));
  for (const table of TABLES) t.throws(() => applySettings(base, { [table]: {} }, 'n'), new InputError(`n: unknown key ${JSON.stringify(table)}`), `table ${table} is no setting`);
});

t.test('isSettingKey: config.toml\'s top-level keys, never a table or anything else', async (t) => {
  t.same([...TABLES].sort(), ['annotation_allow', 'dns', 'policy', 'rootless', 'shim']);
  for (const key of ['parent', 'mode', 'macvlan_mode', 'ipvlan_mode', 'dad', 'dad_transmits', 'ra_timeout_ms', 'state_dir', 'enable', 'network_id', 'iid', 'host_link', 'l3_table', 'max_prefixes', 'max_routes', 'max_dns_servers', 'resolv_conf', 'ra_cache_max_age_ms', 'gc_interval_ms']) {
    t.ok(isSettingKey(key), key);
  }
  for (const key of [...TABLES, 'bogus', '', 'Parent', 'ipam', 'config', 'cniVersion', '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf']) t.notOk(isSettingKey(key), JSON.stringify(key));
  // Every key parseNetConf collects as a setting is either a setting key or refused by the caller; none of CNI's is collected.
  const conf = valueOf(t, parseNetConf(netconf({ dns: { nameservers: [] }, args: {}, runtimeConfig: {}, capabilities: {}, parent: 'eth1' }), 'ADD'), 'conf');
  t.strictSame(Object.keys(conf?.settings ?? {}).filter((k) => !isSettingKey(k)), []);
});
