// config.toml's [rootless] table (runtime/core/config.ts): off and empty when absent; enable,
// quota, parents and modes parsed; every bad value refused with one line naming the key; a plain
// `rootless = ...` refused as not a table. quotaOf: a user's own entry wins over their groups'
// (even 0), else the largest group's, else 0. rootlessParents/rootlessModes fall back to the
// file's own parent and mode.
import t, { type Test } from 'tap';
import { DEFAULTS, parseConfig, quotaOf, ROOTLESS_DEFAULTS, rootlessModes, rootlessParents } from '../../runtime/core/config';
import { InputError } from '../../runtime/core/errors';

const FILE = '/etc/oci-slaac-hook/config.toml';

/** The parse's error message, asserting it is an InputError of one line. */
function refusal(t: Test, text: string, what: string): string {
  try {
    parseConfig(text, FILE);
  } catch (err) {
    t.type(err, InputError, `${what}: an InputError`);
    const message = (err as Error).message;
    t.notMatch(message, /\n/, `${what}: one line`);
    return message;
  }
  t.fail(`${what}: accepted`);
  return '';
}

t.test('absent: disabled, no quota, no lists', async (t) => {
  const cfg = parseConfig('parent = "eth0"\n', FILE);
  t.same(cfg.rootless, { enable: false, quota: {}, parents: [], modes: [], networks: [] }, 'the defaults');
  t.same(ROOTLESS_DEFAULTS, { enable: false, quota: {}, parents: [], modes: [], networks: [] }, 'ROOTLESS_DEFAULTS itself');
  t.same(DEFAULTS.rootless, ROOTLESS_DEFAULTS, 'DEFAULTS carries them');
  t.same(parseConfig('[rootless]\n', FILE).rootless, ROOTLESS_DEFAULTS, 'an empty table is the defaults too');
});

t.test('enable, quota, parents and modes are parsed', async (t) => {
  const cfg = parseConfig(
    ['parent = "eth0"', '[rootless]', 'enable = true', 'quota = { alice = 4, "@containers" = 2, "svc$" = 0, "a.b-c_d" = 4096 }', 'parents = ["eth1", "bond0.10"]', 'modes = ["ipvlan", "macvlan"]', ''].join('\n'),
    FILE,
  );
  t.same(cfg.rootless, { enable: true, quota: { alice: 4, '@containers': 2, svc$: 0, 'a.b-c_d': 4096 }, parents: ['eth1', 'bond0.10'], modes: ['ipvlan', 'macvlan'], networks: [] }, 'every key');
  t.equal(cfg.parent, 'eth0', 'the rest of the file still applies');
  const sub = parseConfig('[rootless]\nenable = false\n[rootless.quota]\nbob = 1\n', FILE);
  t.same(sub.rootless.quota, { bob: 1 }, 'quota as a sub-table');
  t.equal(sub.rootless.enable, false, 'enable = false');
  t.not(parseConfig('[rootless]\n', FILE).rootless.quota, ROOTLESS_DEFAULTS.quota, 'a fresh quota object, not the shared default');
});

t.test('bad values are refused in one line naming the key', async (t) => {
  const where = `config ${FILE} [rootless]`;
  const cases: [string, string, string | RegExp][] = [
    ['enable = "yes"', 'enable = "yes"', `${where}: enable must be true or false, got "yes"`],
    ['enable = 1', 'enable = 1', /enable must be true or false, got 1$/],
    ['quota = 3', 'quota = 3', /^config \S+ \[rootless\]: quota must be a table of user or "@group" = number/],
    ['quota = []', 'quota = []', /quota must be a table/],
    ['quota name "a b"', 'quota = { "a b" = 1 }', `${where}: quota: "a b" is not a user name or "@group"`],
    ['quota name "@"', 'quota = { "@" = 1 }', `${where}: quota: "@" is not a user name or "@group"`],
    ['quota name "../x"', 'quota = { "../x" = 1 }', /quota: "\.\.\/x" is not a user name/],
    ['quota name "-x"', 'quota = { "-x" = 1 }', /quota: "-x" is not a user name/],
    ['quota name "@@g"', 'quota = { "@@g" = 1 }', /quota: "@@g" is not a user name/],
    ['quota name of 33', `quota = { "${'a'.repeat(33)}" = 1 }`, /is not a user name/],
    ['quota -1', 'quota = { alice = -1 }', `${where}: quota.alice must be an integer in 0..4096, got -1`],
    ['quota 4097', 'quota = { alice = 4097 }', `${where}: quota.alice must be an integer in 0..4096, got 4097`],
    ['quota 1.5', 'quota = { alice = 1.5 }', `${where}: quota.alice must be an integer in 0..4096, got 1.5`],
    ['quota "2"', 'quota = { alice = "2" }', `${where}: quota.alice must be an integer in 0..4096, got "2"`],
    ['quota true', 'quota = { "@g" = true }', /quota\.@g must be an integer/],
    ['parents a string', 'parents = "eth0"', /parents must be an array of at most 64 interface names$/],
    ['parents not strings', 'parents = [1]', /parents must be interface names, got 1$/],
    ['modes ["bridge"]', 'modes = ["bridge"]', `${where}: modes must be "macvlan" or "ipvlan", got "bridge"`],
    ['modes a string', 'modes = "ipvlan"', /modes must be an array/],
    ['modes of three', 'modes = ["ipvlan", "macvlan", "ipvlan"]', /modes must be an array/],
    ['unknown key', 'users = ["alice"]', `${where}: unknown key "users"`],
  ];
  for (const [what, line, want] of cases) {
    const message = refusal(t, `[rootless]\n${line}\n`, what);
    if (typeof want === 'string') t.equal(message, want, `${what}: the message`);
    else t.match(message, want, `${what}: names it`);
  }
});

t.test('a parents ifname error is one line naming the file, [rootless] parents and the bad name', async (t) => {
  for (const bad of ['eth/0', 'e th0', '..', '', 'e'.repeat(16)]) {
    const what = `parents = [${JSON.stringify(bad)}]`;
    const message = refusal(t, `[rootless]\n${what}\n`, what);
    t.equal(message, `config ${FILE} [rootless]: parents: invalid interface name: ${JSON.stringify(bad)}`, `${what}: names the bad name`);
  }
});

t.test('rootless at top level must be a table', async (t) => {
  for (const text of ['rootless = 1', 'rootless = true', 'rootless = "on"', 'rootless = ["alice"]']) {
    t.equal(refusal(t, `${text}\n`, text), `config ${FILE}: rootless must be a table ([rootless])`, `${text}: must be a table`);
  }
});

t.test('quotaOf: own entry, else the largest group, else 0', async (t) => {
  const r = { ...ROOTLESS_DEFAULTS, quota: { alice: 0, bob: 5, '@containers': 2, '@big': 7, '@zero': 0 } };
  t.equal(quotaOf(r, 'alice', ['containers', 'big']), 0, 'own 0 wins over groups');
  t.equal(quotaOf(r, 'bob', ['big']), 5, 'own 5 wins over a larger group');
  t.equal(quotaOf(r, 'carol', ['containers', 'big', 'other']), 7, 'the largest group');
  t.equal(quotaOf(r, 'carol', ['zero', 'containers']), 2, 'a 0 group does not lower another');
  t.equal(quotaOf(r, 'dave', ['other']), 0, 'in no listed group: 0');
  t.equal(quotaOf(r, 'dave', []), 0, 'no groups at all: 0');
  t.equal(quotaOf(r, 'containers', []), 0, 'a user named like a group does not get the group\'s');
  t.equal(quotaOf(ROOTLESS_DEFAULTS, 'alice', ['containers']), 0, 'empty quota: 0');
  t.equal(quotaOf(r, '@big', []), 7, 'quotaOf itself does not vet names (accountOf never yields "@")');
});

t.test('rootlessParents and rootlessModes fall back to parent and mode', async (t) => {
  const plain = parseConfig('parent = "eth0"\nmode = "ipvlan"\n[rootless]\nenable = true\n', FILE);
  t.same(rootlessParents(plain), ['eth0'], 'parents: the file\'s parent');
  t.same(rootlessModes(plain), ['ipvlan'], 'modes: the file\'s mode');
  const listed = parseConfig('parent = "eth0"\nmode = "ipvlan"\n[rootless]\nparents = ["eth1", "eth2"]\nmodes = ["macvlan"]\n', FILE);
  t.same(rootlessParents(listed), ['eth1', 'eth2'], 'parents: the list');
  t.same(rootlessModes(listed), ['macvlan'], 'modes: the list');
  t.same(rootlessModes(parseConfig('', FILE)), [DEFAULTS.mode], 'no file at all: the default mode');
});
