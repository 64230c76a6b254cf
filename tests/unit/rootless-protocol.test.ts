// The rootless broker's wire codec (runtime/wire/rootless-protocol.ts): a well-formed attach or
// detach parses to exactly its fields; every bad field, unknown key, oversize message, non-JSON
// and non-object is refused with one line naming what is wrong (never a throw); answers are
// checked the same way, control characters refused; encodeRootless round-trips.
import t, { type Test } from 'tap';
import { encodeRootless, MAX_ROOTLESS_REQUEST_BYTES, parseRootlessAnswer, parseRootlessRequest, type RootlessAnswer, type RootlessRequest } from '../../runtime/wire/rootless-protocol';

const bytes = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8');
const attach = { op: 'attach', id: 'a1b2c3', pid: 4242, name: 'web' };

/** The parse's error, asserting it is a refusal of one line. */
function refused(t: Test, got: { ok: true } | { ok: false; error: string }, what: string): string {
  t.equal(got.ok, false, `${what}: refused`);
  if (got.ok) return '';
  t.notMatch(got.error, /\n/, `${what}: one line`);
  return got.error;
}

t.test('a well-formed attach and detach parse to exactly their fields', async (t) => {
  t.same(parseRootlessRequest(bytes(attach)), { ok: true, value: attach }, 'minimal attach');
  const full = { ...attach, parent: 'eth0', mode: 'ipvlan' };
  t.same(parseRootlessRequest(bytes(full)), { ok: true, value: full }, 'attach with parent and mode');
  t.same(parseRootlessRequest(bytes({ ...attach, mode: 'macvlan', parent: 'en-p1s0.10' })).ok, true, 'macvlan, a vlan parent');
  t.same(parseRootlessRequest(bytes({ op: 'detach', id: 'x'.repeat(128) })), { ok: true, value: { op: 'detach', id: 'x'.repeat(128) } }, 'detach with a 128-char id');
  t.same(parseRootlessRequest(bytes({ ...attach, pid: 1 })).ok, true, 'pid 1 is well-formed (the broker refuses it, not the codec)');
  t.same(parseRootlessRequest(bytes({ ...attach, pid: 4194304 })).ok, true, 'pid at PID_MAX_LIMIT');
  t.same(parseRootlessRequest(bytes({ ...attach, name: 'a'.repeat(63) })).ok, true, 'a 63-char name');
  t.same(parseRootlessRequest(bytes({ ...attach, parent: 'a'.repeat(15) })).ok, true, 'a 15-char parent');
  t.same(parseRootlessRequest(bytes({ ...attach, id: 'a.b+c_d-e' })).ok, true, 'an id with . + _ -');
  const policy = { policy: 'restricted', expose: 'tcp:8080', networks: 'blue', allow_from: '2001:db8::/32', echo: 'false' };
  t.same(parseRootlessRequest(bytes({ ...attach, policy })), { ok: true, value: { ...attach, policy } }, 'the policy annotations, as text (the broker parses them)');
});

t.test('the policy field: only policy keys, as strings of at most 1024', async (t) => {
  for (const [what, policy] of [
    ['an array', ['restricted']],
    ['a string', 'restricted'],
    ['another key', { parent: 'eth1' }],
    ['a number', { echo: 1 }],
    ['too long', { expose: 'x'.repeat(1025) }],
    ['__proto__', JSON.parse('{"__proto__": "x"}') as unknown],
  ] as const) {
    const got = parseRootlessRequest(bytes(JSON.stringify({ ...attach, policy })));
    t.equal(got.ok, false, `${what}: refused`);
    if (!got.ok) t.notMatch(got.error, /\n/, `${what}: one line`);
  }
});

t.test('each bad field is refused in one line naming it', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['unknown key on attach', { ...attach, netns: '/proc/1/ns/net' }, /^attach: unknown key "netns"$/],
    ['unknown key on detach', { op: 'detach', id: 'x', pid: 3 }, /^detach: unknown key "pid"$/],
    ['unknown op', { op: 'delete', id: 'x' }, /^unknown request op "delete"$/],
    ['missing op', { id: 'x' }, /^unknown request op "undefined"$/],
    ['id "."', { ...attach, id: '.' }, /^attach: "id" must be a container id/],
    ['id ".."', { op: 'detach', id: '..' }, /^detach: "id" must be a container id/],
    ['129-char id', { ...attach, id: 'a'.repeat(129) }, /"id" must be/],
    ['empty id', { ...attach, id: '' }, /"id" must be/],
    ['id with /', { ...attach, id: 'a/b' }, /"id" must be/],
    ['numeric id', { ...attach, id: 12 }, /"id" must be/],
    ['missing id', { op: 'detach' }, /"id" must be/],
    ['pid 0', { ...attach, pid: 0 }, /^attach: "pid" must be/],
    ['pid -1', { ...attach, pid: -1 }, /"pid" must be/],
    ['pid 1.5', { ...attach, pid: 1.5 }, /"pid" must be/],
    ['pid "12"', { ...attach, pid: '12' }, /"pid" must be/],
    ['pid huge', { ...attach, pid: 2 ** 53 }, /"pid" must be/],
    ['pid above PID_MAX_LIMIT', { ...attach, pid: 4194305 }, /"pid" must be/],
    ['missing pid', { op: 'attach', id: 'x', name: 'web' }, /"pid" must be/],
    ['name with /', { ...attach, name: 'a/b' }, /^attach: "name" must be/],
    ['name starting with -', { ...attach, name: '-rf' }, /"name" must be/],
    ['64-char name', { ...attach, name: 'a'.repeat(64) }, /"name" must be/],
    ['empty name', { ...attach, name: '' }, /"name" must be/],
    ['missing name', { op: 'attach', id: 'x', pid: 3 }, /"name" must be/],
    ['parent with /', { ...attach, parent: 'eth/0' }, /^attach: "parent" must be an interface name$/],
    ['16-char parent', { ...attach, parent: 'a'.repeat(16) }, /"parent" must be/],
    ['parent ".."', { ...attach, parent: '..' }, /"parent" must be/],
    ['parent with a space', { ...attach, parent: 'eth 0' }, /"parent" must be/],
    ['mode "bridge"', { ...attach, mode: 'bridge' }, /^attach: "mode" must be "macvlan" or "ipvlan"$/],
  ];
  for (const [what, request, want] of cases) {
    t.match(refused(t, parseRootlessRequest(bytes(request)), what), want, `${what}: names the field`);
  }
});

t.test('oversize, non-JSON and non-objects are refused, never thrown', async (t) => {
  const big = bytes({ ...attach, name: 'x', pad: 'y'.repeat(MAX_ROOTLESS_REQUEST_BYTES) });
  t.ok(big.length > MAX_ROOTLESS_REQUEST_BYTES, 'the request is over the limit');
  t.equal(refused(t, parseRootlessRequest(big), 'oversize'), 'request longer than 4096 bytes', 'oversize: says the limit (before any JSON parse)');
  const exact = Buffer.concat([bytes({ op: 'detach', id: 'x' }), Buffer.alloc(MAX_ROOTLESS_REQUEST_BYTES - bytes({ op: 'detach', id: 'x' }).length, 0x20)]);
  t.equal(exact.length, MAX_ROOTLESS_REQUEST_BYTES, 'the padded request is exactly at the limit');
  t.equal(parseRootlessRequest(exact).ok, true, 'exactly 4096 bytes is taken');
  for (const [what, text] of [
    ['empty', ''],
    ['garbage', '{op: attach'],
    ['invalid UTF-8', Buffer.from([0xff, 0xfe, 0x7b])],
  ] as const) {
    t.equal(refused(t, parseRootlessRequest(typeof text === 'string' ? bytes(text) : text), what), 'request is not valid JSON', `${what}: not valid JSON`);
  }
  for (const [what, text] of [
    ['array', '[{"op":"detach","id":"x"}]'],
    ['null', 'null'],
    ['number', '42'],
    ['string', '"detach"'],
  ]) {
    t.equal(refused(t, parseRootlessRequest(bytes(text)), what), 'request is not a JSON object', `${what}: not an object`);
  }
  t.doesNotThrow(() => parseRootlessRequest(bytes('{"op":"attach","id":"x","__proto__":{"pid":3}}')), 'a __proto__ key does not throw');
  t.equal(parseRootlessRequest(bytes('{"op":"attach","id":"x","__proto__":{"pid":3}}')).ok, false, 'nor does it lend a pid');
});

t.test('answers: refusal, attach and detach parse; malformed ones are refused', async (t) => {
  t.same(parseRootlessAnswer(bytes({ ok: false, error: 'container x: refused' })), { ok: true, value: { ok: false, error: 'container x: refused' } }, 'a refusal');
  const a = { ok: true, op: 'attach', interface: 'eth0', addresses: ['2001:db8::1/64'], router: 'fe80::1', name: 'web.alice.example' };
  t.same(parseRootlessAnswer(bytes(a)), { ok: true, value: a }, 'attach');
  const withExtras = { ...a, dns: 'web.alice.example.', joined: 'abc' };
  t.same(parseRootlessAnswer(bytes(withExtras)), { ok: true, value: withExtras }, 'attach with dns and joined');
  t.same(parseRootlessAnswer(bytes({ ok: true, op: 'detach', withdrawn: ['2001:db8::1'] })), { ok: true, value: { ok: true, op: 'detach', withdrawn: ['2001:db8::1'] } }, 'detach');
  t.same(parseRootlessAnswer(bytes({ ok: true, op: 'detach', withdrawn: [] })).ok, true, 'detach withdrawing nothing');

  const cases: [string, unknown, RegExp][] = [
    ['error with a newline', { ok: false, error: 'line1\nline2' }, /"error" must be one line/],
    ['error with ESC', { ok: false, error: 'red\x1b[31m' }, /"error" must be one line/],
    ['error with NUL', { ok: false, error: 'a\0b' }, /"error" must be one line/],
    ['error not a string', { ok: false, error: 3 }, /"error" must be one line/],
    ['ok missing', { op: 'detach', withdrawn: [] }, /"ok" must be true or false/],
    ['ok "true"', { ok: 'true', op: 'detach', withdrawn: [] }, /"ok" must be true or false/],
    ['unknown op', { ok: true, op: 'gc' }, /"op" must be "attach" or "detach"/],
    ['withdrawn with a control character', { ok: true, op: 'detach', withdrawn: ['a\tb'] }, /"withdrawn" must be a list of text/],
    ['withdrawn not a list', { ok: true, op: 'detach', withdrawn: 'a' }, /"withdrawn"/],
    ['attach interface with a control character', { ...a, interface: 'eth\n0' }, /attach needs "interface"/],
    ['attach interface of 16', { ...a, interface: 'a'.repeat(16) }, /attach needs/],
    ['attach without router', { ...a, router: undefined }, /attach needs/],
    ['attach address with a control character', { ...a, addresses: ['2001:db8::1\r'] }, /attach needs/],
    ['dns with a control character', { ...a, dns: 'x\x07' }, /"dns" must be a name/],
    ['joined with a control character', { ...a, joined: 'x\x01' }, /"joined" must be a container id/],
  ];
  for (const [what, answer, want] of cases) {
    t.match(refused(t, parseRootlessAnswer(bytes(answer)), what), want, what);
  }
  t.equal(refused(t, parseRootlessAnswer(bytes('nope')), 'non-JSON answer'), 'answer is not valid JSON', 'says answer, not request');
  t.equal(refused(t, parseRootlessAnswer(bytes('[]')), 'array answer'), 'answer is not a JSON object', 'an array answer is not an object');
  t.match(refused(t, parseRootlessAnswer(Buffer.alloc(16385, 0x20)), 'oversize answer'), /^answer longer than 16384 bytes$/, 'an oversize answer says the limit');
});

t.test('encodeRootless round-trips through the parsers', async (t) => {
  const requests: RootlessRequest[] = [
    { op: 'attach', id: 'c0ffee', pid: 77, name: 'db' },
    { op: 'attach', id: 'c0ffee', pid: 77, name: 'db', parent: 'eth1', mode: 'macvlan' },
    { op: 'detach', id: 'c0ffee' },
  ];
  for (const r of requests) t.same(parseRootlessRequest(encodeRootless(r)), { ok: true, value: r }, `${r.op} request`);
  const answers: RootlessAnswer[] = [
    { ok: false, error: 'container c0ffee: refused' },
    { ok: true, op: 'attach', interface: 'eth0', addresses: ['2001:db8::2/64'], router: 'fe80::1', name: 'db', dns: 'db.bob.example', joined: 'c0ffee' },
    { ok: true, op: 'detach', withdrawn: ['2001:db8::2'] },
  ];
  for (const a of answers) t.same(parseRootlessAnswer(encodeRootless(a)), { ok: true, value: a }, `answer ${JSON.stringify(a).slice(0, 30)}`);
});
