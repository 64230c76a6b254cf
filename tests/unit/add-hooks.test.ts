// Our hooks into a bundle's config.json (wire/oci/add-hooks.ts): appended after whatever an engine
// put there, idempotent, and only the "hooks" value rewritten — every other byte kept, so a uint64
// in linux.resources reaches the runtime as the engine wrote it.
import t from 'tap';
import { InputError } from '../../runtime/core/errors';
import { addHooks, type OciHook, type OurHooks } from '../../runtime/wire/oci/add-hooks';

const CR: OciHook = { path: '/usr/bin/node', args: ['node', '/usr/lib/oci-slaac-hook/oci-slaac-hook.js', 'createRuntime', '--config', '/etc/oci-slaac-hook/config.toml'], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'], timeout: 30 };
const PS: OciHook = { ...CR, args: ['node', '/usr/lib/oci-slaac-hook/oci-slaac-hook.js', 'poststop', '--config', '/etc/oci-slaac-hook/config.toml'] };
const OURS: OurHooks = { createRuntime: CR, poststop: PS };
const FILE = '/run/b/config.json';
const SETKEY = { path: '/proc/4242/exe', args: ['libnetwork-setkey', '-exec-root=/var/run/docker', 'abc', '0123'] };

/** The text with its top-level "hooks" members removed, found by a real JSON scan (not a regex). */
function withoutHooks(text: string): string {
  // Walk the top-level object: strings skipped whole, depth counted, members cut at depth 1.
  const out: string[] = [];
  let i = 0;
  const skipWs = (): void => {
    while (i < text.length && ' \t\r\n'.includes(text[i] as string)) i++;
  };
  const strEnd = (j: number): number => {
    let k = j + 1;
    while (text[k] !== '"') k += text[k] === '\\' ? 2 : 1;
    return k + 1;
  };
  const valEnd = (j: number): number => {
    if (text[j] === '"') return strEnd(j);
    if (text[j] !== '{' && text[j] !== '[') {
      while (j < text.length && !',}] \t\r\n'.includes(text[j] as string)) j++;
      return j;
    }
    let depth = 0;
    for (;;) {
      const c = text[j];
      if (c === '"') {
        j = strEnd(j);
        continue;
      }
      if (c === '{' || c === '[') depth++;
      if (c === '}' || c === ']') if (--depth === 0) return j + 1;
      j++;
    }
  };
  skipWs();
  out.push(text.slice(0, i + 1)); // up to and with '{'
  i++;
  const members: string[] = [];
  for (;;) {
    skipWs();
    if (text[i] === '}') break;
    const kEnd = strEnd(i);
    const key = JSON.parse(text.slice(i, kEnd)) as string;
    i = kEnd;
    skipWs();
    i++; // ':'
    skipWs();
    const vStart = i;
    i = valEnd(i);
    if (key !== 'hooks') members.push(`${JSON.stringify(key)}:${text.slice(vStart, i)}`);
    skipWs();
    if (text[i] === ',') i++;
  }
  return out.join('') + members.join(',') + '}';
}

const docker = JSON.stringify({
  ociVersion: '1.0.2-dev',
  process: { user: { uid: 0, gid: 0 }, args: ['sh', '-c', 'echo "{hooks}" \\ done'], env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'X={"a":1}'], cwd: '/' },
  root: { path: '/var/lib/docker/overlay2/abc/merged' },
  hostname: 'abc',
  hooks: { prestart: [SETKEY] },
  linux: { resources: { memory: { limit: 0 } }, namespaces: [{ type: 'network' }] },
}).replace('"limit":0', '"limit":0,"swap":18446744073709551615');

t.test('no hooks key: added, everything else byte for byte, a uint64 kept as its digits', async (t) => {
  const text = '{"ociVersion":"1.0.2","process":{"args":["sh"]},"linux":{"resources":{"memory":{"limit":18446744073709551615,"swap":-1},"cpu":{"shares":1024}}}}';
  const out = addHooks(text, OURS, FILE);
  t.equal(out.changed, true);
  t.ok(out.text.includes('"limit":18446744073709551615'), 'the uint64 is the same digits');
  t.notOk(out.text.includes('18446744073709552000'), 'never rounded through a double');
  t.equal(withoutHooks(out.text), withoutHooks(text), 'everything but "hooks" identical');
  t.equal(out.text.replace(/"hooks":\{.*?\]\},?/, ''), text, 'and literally: the hooks member inserted, nothing else touched');
  const doc = JSON.parse(out.text) as { hooks: Record<string, OciHook[]> };
  t.same(doc.hooks, { createRuntime: [CR], poststop: [PS] });
  t.same(Object.keys(doc.hooks), ['createRuntime', 'poststop']);
});

t.test("Docker's prestart (libnetwork-setkey) kept first and untouched; ours after existing createRuntime/poststop entries", async (t) => {
  const other = { path: '/usr/bin/nvidia-container-runtime-hook', args: ['nvidia-container-runtime-hook', 'prestart'] };
  const text = docker.replace('"hooks":{"prestart":', `"hooks":{"createRuntime":[${JSON.stringify(other)}],"poststop":[${JSON.stringify(other)}],"prestart":`);
  const out = addHooks(text, OURS, FILE);
  t.equal(out.changed, true);
  const doc = JSON.parse(out.text) as { hooks: Record<string, OciHook[]> };
  t.same(Object.keys(doc.hooks), ['createRuntime', 'poststop', 'prestart'], 'key order kept');
  t.same(doc.hooks.prestart, [SETKEY], 'prestart untouched');
  t.same(doc.hooks.createRuntime, [other, CR], 'ours after the existing entry');
  t.same(doc.hooks.poststop, [other, PS]);
  t.equal(withoutHooks(out.text), withoutHooks(text));
  t.ok(out.text.includes('"swap":18446744073709551615'));

  const plain = addHooks(docker, OURS, FILE);
  const d2 = JSON.parse(plain.text) as { hooks: Record<string, OciHook[]> };
  t.same(Object.keys(d2.hooks), ['prestart', 'createRuntime', 'poststop'], 'prestart first');
  t.same(d2.hooks.prestart, [SETKEY]);
  t.equal(withoutHooks(plain.text), withoutHooks(docker));
  t.ok(plain.text.includes('"args":["sh","-c","echo \\"{hooks}\\" \\\\ done"]'), 'strings with braces and quotes byte for byte');
});

t.test('idempotent: a second call changes nothing and returns the very text', async (t) => {
  for (const text of [docker, '{}', '{"a":1}']) {
    const once = addHooks(text, OURS, FILE);
    const twice = addHooks(once.text, OURS, FILE);
    t.equal(twice.changed, false);
    t.equal(twice.text, once.text);
  }
  // Only one stage missing: that one added, the other not duplicated.
  const half = JSON.stringify({ hooks: { createRuntime: [CR] } });
  const out = addHooks(half, OURS, FILE);
  t.equal(out.changed, true);
  t.same(JSON.parse(out.text).hooks, { createRuntime: [CR], poststop: [PS] });
  // The same path and args with another env or timeout is the same hook.
  const same = JSON.stringify({ hooks: { createRuntime: [{ path: CR.path, args: CR.args }], poststop: [{ path: PS.path, args: PS.args, timeout: 5 }] } });
  t.same(addHooks(same, OURS, FILE), { text: same, changed: false });
  // Other args: another hook, ours added.
  const other = JSON.stringify({ hooks: { createRuntime: [{ path: CR.path, args: ['node', 'x'] }] } });
  t.equal((JSON.parse(addHooks(other, OURS, FILE).text).hooks.createRuntime as unknown[]).length, 2);
});

t.test('duplicate "hooks" keys: the last one is read and rewritten, as JSON.parse takes it', async (t) => {
  const text = `{"hooks":{"prestart":[{"path":"/first"}]},"id":"x","hooks":{"prestart":[${JSON.stringify(SETKEY)}]},"n":18446744073709551615}`;
  const out = addHooks(text, OURS, FILE);
  t.equal(out.changed, true);
  t.ok(out.text.startsWith('{"hooks":{"prestart":[{"path":"/first"}]},"id":"x","hooks":'), 'the first, dead one left as it was');
  t.ok(out.text.endsWith(',"n":18446744073709551615}'));
  const doc = JSON.parse(out.text) as { hooks: Record<string, OciHook[]> };
  t.same(doc.hooks, { prestart: [SETKEY], createRuntime: [CR], poststop: [PS] });
  t.equal(addHooks(out.text, OURS, FILE).changed, false);
  // The first one malformed, the last fine: JSON.parse reads the last.
  t.equal(addHooks('{"hooks":7,"hooks":{}}', OURS, FILE).changed, true);
});

t.test('{} and empty-ish objects', async (t) => {
  const out = addHooks('{}', OURS, FILE);
  t.equal(out.text, `{"hooks":${JSON.stringify({ createRuntime: [CR], poststop: [PS] })}}`);
  t.same(JSON.parse(addHooks(' { \n } ', OURS, FILE).text), { hooks: { createRuntime: [CR], poststop: [PS] } });
  t.same(JSON.parse(addHooks('{"hooks":{}}', OURS, FILE).text), { hooks: { createRuntime: [CR], poststop: [PS] } });
  t.same(JSON.parse(addHooks('{"hooks":{"createRuntime":null}}', OURS, FILE).text).hooks.createRuntime, [CR], 'null: as none');
  t.same(addHooks('{}', {}, FILE), { text: '{}', changed: false }, 'nothing of ours: nothing changes');
});

t.test('pretty-printed input: the indentation and the rest kept', async (t) => {
  const pretty = JSON.stringify(JSON.parse(docker.replace('18446744073709551615', '1')), null, '\t').replace('"swap": 1', '"swap": 18446744073709551615');
  const pretty2 = JSON.stringify(JSON.parse(docker.replace('18446744073709551615', '1')), null, 2).replace('"swap": 1', '"swap": 18446744073709551615');
  for (const text of [pretty, pretty2, `\r\n  ${pretty2}\r\n`]) {
    const out = addHooks(text, OURS, FILE);
    t.equal(out.changed, true);
    t.equal(withoutHooks(out.text), withoutHooks(text));
    t.ok(out.text.includes('18446744073709551615'));
    t.ok(out.text.endsWith(text.slice(text.indexOf('"linux"'))), 'everything after hooks literally the same');
    t.same(JSON.parse(out.text).hooks.prestart, [SETKEY]);
  }
  const noHooks = '{\n  "ociVersion": "1.0.2",\n  "linux": {\n    "x": 18446744073709551615\n  }\n}\n';
  const out = addHooks(noHooks, OURS, FILE);
  t.equal(withoutHooks(out.text), withoutHooks(noHooks));
  t.ok(out.text.endsWith('"ociVersion": "1.0.2",\n  "linux": {\n    "x": 18446744073709551615\n  }\n}\n'));
});

t.test('strings with braces, brackets and escaped quotes around "hooks" do not mislead the scan', async (t) => {
  const text = '{"a":"}{\\"hooks\\":[","b":["]","{"],"hooks":{"prestart":[{"path":"/p","args":["x\\"}"]}]},"c":"\\\\","d":{"hooks":"not ours"},"e":"\\u0022hooks\\u0022"}';
  const out = addHooks(text, OURS, FILE);
  const doc = JSON.parse(out.text) as Record<string, unknown>;
  const before = JSON.parse(text) as Record<string, unknown>;
  t.same({ ...doc, hooks: undefined }, { ...before, hooks: undefined });
  t.same(doc.hooks, { prestart: [{ path: '/p', args: ['x"}'] }], createRuntime: [CR], poststop: [PS] });
  t.equal(withoutHooks(out.text), withoutHooks(text));
  // "hooks" written with an escape is still the hooks key.
  const escaped = '{"x":1,"hook\\u0073":{"prestart":[]}}';
  const e = addHooks(escaped, OURS, FILE);
  t.same(JSON.parse(e.text), { x: 1, hooks: { prestart: [], createRuntime: [CR], poststop: [PS] } });
});

t.test('refusals: InputError, one line, naming the file', async (t) => {
  const cases: [string, RegExp][] = [
    ['{"a":', /is not valid JSON/],
    ['', /is not valid JSON/],
    ['{"a":1}x', /is not valid JSON/],
    ['[]', /must be a JSON object/],
    ['[{"hooks":{}}]', /must be a JSON object/],
    ['null', /must be a JSON object/],
    ['"{}"', /must be a JSON object/],
    ['7', /must be a JSON object/],
    ['{"hooks":[]}', /"hooks" must be an object/],
    ['{"hooks":"x"}', /"hooks" must be an object/],
    ['{"hooks":null}', /"hooks" must be an object/],
    ['{"hooks":{"createRuntime":{}}}', /"hooks\.createRuntime" must be an array of hooks with a "path"/],
    ['{"hooks":{"createRuntime":"x"}}', /"hooks\.createRuntime" must be an array/],
    ['{"hooks":{"poststop":[{"args":["a"]}]}}', /"hooks\.poststop" must be an array of hooks with a "path"/],
    ['{"hooks":{"createRuntime":[null]}}', /"hooks\.createRuntime"/],
    ['{"hooks":{"createRuntime":[{"path":7}]}}', /"hooks\.createRuntime"/],
  ];
  for (const [text, re] of cases) {
    let err: unknown;
    try {
      addHooks(text, OURS, FILE);
    } catch (e) {
      err = e;
    }
    t.ok(err instanceof InputError, `${JSON.stringify(text)}: an InputError`);
    const message = (err as Error | undefined)?.message ?? '';
    t.match(message, re);
    t.ok(message.startsWith(FILE), 'names the file');
    t.notOk(message.includes('\n'), 'one line');
  }
  t.doesNotThrow(() => addHooks('{"hooks":{"prestart":"whatever"}}', OURS, FILE), 'stages not ours are not ours to judge');
});

t.test('a deeply nested value inside "hooks": refused as an InputError, not a stack overflow', async (t) => {
  // Found by this test: JSON.parse takes 100 000 levels, but addHooks' JSON.stringify(hooks) (and
  // same()'s JSON.stringify(args)) recurse and throw a RangeError, which is not an InputError.
  const n = 100_000;
  const deep = `${'['.repeat(n)}${']'.repeat(n)}`;
  for (const text of [`{"hooks":{"prestart":${deep}}}`, `{"hooks":{"createRuntime":[{"path":"/x","args":${deep}}]}}`]) {
    let err: unknown;
    try {
      addHooks(text, OURS, FILE);
    } catch (e) {
      err = e;
    }
    t.ok(err === undefined || err instanceof InputError, `${text.slice(0, 30)}…: no throw but an InputError`);
  }
});
