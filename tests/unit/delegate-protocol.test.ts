// The delegate protocol's codec (runtime/wire/delegate-protocol.ts): a request and each kind of
// answer round-trip; every bad field, unknown key, oversize message, non-JSON and non-object is
// refused with one line (never a throw, also under seeded random bytes and mutations); the
// socket's name is a stable hash of the config path; the stage environment is exactly its keys.
import t from 'tap';
import {
  delegateSocketPath,
  encodeDelegate,
  fnv1a64,
  MAX_DELEGATE_ANSWER_BYTES,
  MAX_DELEGATE_LINES,
  MAX_DELEGATE_REQUEST_BYTES,
  parseDelegateAnswer,
  parseDelegateRequest,
  sameStageEnvironment,
  stageEnvironment,
  type DelegateAnswer,
  type DelegateRequest,
} from '../../runtime/wire/delegate-protocol';
import { seededRandom } from './helpers';

const request: DelegateRequest = { stage: 'createRuntime', config: '/etc/oci-slaac-hook/config.toml', env: { OCI_SLAAC_HOOK_STATE_LIB: '/var/lib/x' }, state: '{"ociVersion":"1.0.2"}' };
const bytes = (v: unknown): Buffer => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8');

t.test('a request and every kind of answer round-trip', async (t) => {
  t.same(parseDelegateRequest(encodeDelegate(request)), request, 'request');
  for (const stage of ['prestart', 'poststop'] as const) t.same(parseDelegateRequest(encodeDelegate({ ...request, stage })), { ...request, stage }, stage);
  const answers: DelegateAnswer[] = [
    { ok: true, lines: ['abc: eth0 2001:db8::1/64 via fe80::1'] },
    { ok: false, error: 'parent interface "x" does not exist', lines: ['abc: parent interface "x" does not exist'] },
    { ok: false, fallback: 'the agent runs with /a, not /b' },
  ];
  for (const a of answers) t.same(parseDelegateAnswer(encodeDelegate(a)), a, JSON.stringify(a).slice(0, 40));
});

t.test('each bad request is refused in one line naming what is wrong', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', '{"v":1,', /^request not JSON$/],
    ['an array', [1], /^request not a JSON object$/],
    ['null', 'null', /^request not a JSON object$/],
    ['an unknown key', { v: 1, ...request, pid: 1 }, /^request has an unknown key "pid"$/],
    ['no version', { ...request }, /^request version undefined is not 1$/],
    ['version 2', { v: 2, ...request }, /^request version 2 is not 1$/],
    ['stage "start"', { v: 1, ...request, stage: 'start' }, /"stage" is not a hook stage/],
    ['stage __complete-dad', { v: 1, ...request, stage: '__complete-dad' }, /"stage" is not a hook stage/],
    ['a relative config', { v: 1, ...request, config: 'config.toml' }, /"config" is not an absolute path/],
    ['a config with NUL', { v: 1, ...request, config: '/etc/a\0b' }, /"config" is not an absolute path/],
    ['a numeric config', { v: 1, ...request, config: 7 }, /"config" is not an absolute path/],
    ['env another key', { v: 1, ...request, env: { PATH: '/bin' } }, /"env" is not a stage environment/],
    ['env __proto__', `{"v":1,"stage":"poststop","config":"/c","env":{"__proto__":"x"},"state":""}`, /"env" is not a stage environment/],
    ['env a number', { v: 1, ...request, env: { OCI_SLAAC_HOOK_FAILPOINT: 1 } }, /"env" is not a stage environment/],
    ['env an array', { v: 1, ...request, env: [] }, /"env" is not a stage environment/],
    ['state an object', { v: 1, ...request, state: {} }, /"state" is not a string/],
  ];
  for (const [what, v, re] of cases) {
    const got = parseDelegateRequest(bytes(v));
    t.type(got, 'string', `${what}: refused`);
    t.match(String(got), re, what);
    t.notMatch(String(got), /\n/, `${what}: one line`);
  }
  t.match(String(parseDelegateRequest(Buffer.alloc(MAX_DELEGATE_REQUEST_BYTES + 1, 0x20))), /^request longer than \d+ bytes$/, 'oversize');
});

t.test('each bad answer is refused in one line', async (t) => {
  const cases: [string, unknown][] = [
    ['no ok', { lines: [] }],
    ['ok a string', { ok: 'true', lines: [] }],
    ['ok without lines', { ok: true }],
    ['lines not strings', { ok: true, lines: [1] }],
    ['too many lines', { ok: true, lines: Array.from({ length: MAX_DELEGATE_LINES + 1 }, () => 'x') }],
    ['a line too long', { ok: true, lines: ['x'.repeat(4000)] }],
    ['neither error nor fallback', { ok: false, lines: [] }],
    ['error without lines', { ok: false, error: 'e' }],
  ];
  for (const [what, v] of cases) {
    const got = parseDelegateAnswer(bytes(v));
    t.type(got, 'string', `${what}: refused`);
    t.notMatch(String(got), /\n/, `${what}: one line`);
  }
  t.match(String(parseDelegateAnswer(Buffer.alloc(MAX_DELEGATE_ANSWER_BYTES + 1, 0x20))), /^answer longer than/, 'oversize');
});

t.test('parsers never throw: seeded random bytes and mutations of valid messages', async (t) => {
  const seed = 0x6465_6c67;
  const rand = seededRandom(seed);
  const valid = [encodeDelegate(request), encodeDelegate({ ok: true, lines: ['a', 'b'] }), encodeDelegate({ ok: false, fallback: 'x' })];
  let n = 0;
  for (let i = 0; i < 3000; i++) {
    const base = valid[i % valid.length] as Buffer;
    const b = i % 3 === 0 ? Buffer.from(Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256))) : Buffer.from(base);
    if (i % 3 !== 0) for (let k = 0; k < 1 + Math.floor(rand() * 4); k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    try {
      parseDelegateRequest(b);
      parseDelegateAnswer(b);
      n++;
    } catch (err) {
      t.fail(`seed ${seed} case ${i} threw: ${(err as Error).message}`);
      break;
    }
  }
  t.equal(n, 3000, '3000 inputs, no throw');
});

t.test('the socket name: a stable 64-bit FNV-1a of the config path', async (t) => {
  t.equal(fnv1a64(''), 'cbf29ce484222325', 'the offset basis for ""');
  t.equal(fnv1a64('a'), 'af63dc4c8601ec8c', 'FNV-1a 64 of "a" (the published test vector)');
  t.equal(delegateSocketPath('/etc/oci-slaac-hook/config.toml'), delegateSocketPath('/etc/oci-slaac-hook/config.toml'), 'stable');
  t.not(delegateSocketPath('/etc/a.toml'), delegateSocketPath('/etc/b.toml'), 'per config');
  t.match(delegateSocketPath('/x'.repeat(3000)), /^\/run\/oci-slaac-hook\/delegate\/[0-9a-f]{16}\.sock$/, 'short, whatever the path');
});

t.test('the stage environment: exactly its keys', async (t) => {
  const env = { PATH: '/bin', OCI_SLAAC_HOOK_SYSLOG: '/dev/log', OCI_SLAAC_HOOK_CONFIG: '/c', OCI_SLAAC_HOOK_FAILPOINT: 'dad' };
  t.same(stageEnvironment(env), { OCI_SLAAC_HOOK_FAILPOINT: 'dad' }, 'only the keys that change a stage');
  t.ok(sameStageEnvironment({}, {}), 'both empty');
  t.notOk(sameStageEnvironment({ OCI_SLAAC_HOOK_STATE_LIB: '/a' }, {}), 'one set, one not');
  t.notOk(sameStageEnvironment({ OCI_SLAAC_HOOK_STATE_LIB: '/a' }, { OCI_SLAAC_HOOK_STATE_LIB: '/b' }), 'set differently');
});
