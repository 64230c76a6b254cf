// Docker's daemon.json with our runtime registered: the operator's other keys and runtimes kept
// in their order, a second run changes nothing, and every bad input one InputError line.
import t, { type Test } from 'tap';
import { addDockerRuntime } from '../../runtime/wire/oci/daemon-json';
import { InputError } from '../../runtime/core/errors';

const ours = { name: 'slaac', path: '/usr/local/bin/oci-slaac-runtime', makeDefault: false };

/** The refusal's message, checked to be an InputError of one line. */
function refusal(t: Test, text: string | undefined, opts = ours): string {
  try {
    addDockerRuntime(text, opts);
  } catch (err) {
    t.type(err, InputError);
    const message = (err as Error).message;
    t.notMatch(message, /\n/, 'one line');
    return message;
  }
  t.fail('not refused');
  return '';
}

t.test('an absent or empty file is {}', async (t) => {
  for (const text of [undefined, '', ' \n']) {
    const r = addDockerRuntime(text, ours);
    t.equal(r.text, '{\n  "runtimes": {\n    "slaac": {\n      "path": "/usr/local/bin/oci-slaac-runtime"\n    }\n  }\n}\n');
    t.same(r.changed, ['runtimes.slaac: added, path /usr/local/bin/oci-slaac-runtime']);
  }
});

t.test('other keys and runtimes kept, in their order', async (t) => {
  const text = JSON.stringify({
    'log-driver': 'journald',
    runtimes: { nvidia: { path: 'nvidia-container-runtime', runtimeArgs: [] }, kata: { runtimeType: 'io.containerd.kata.v2' } },
    ipv6: true,
    'default-address-pools': [{ base: '10.10.0.0/16', size: 24 }],
  });
  const r = addDockerRuntime(text, ours);
  const out = JSON.parse(r.text) as Record<string, unknown> & { runtimes: Record<string, unknown> };
  t.same(Object.keys(out), ['log-driver', 'runtimes', 'ipv6', 'default-address-pools']);
  t.same(Object.keys(out.runtimes), ['nvidia', 'kata', 'slaac']);
  t.same(out.runtimes.nvidia, { path: 'nvidia-container-runtime', runtimeArgs: [] });
  t.same(out.runtimes.kata, { runtimeType: 'io.containerd.kata.v2' });
  t.same(out.runtimes.slaac, { path: ours.path });
  t.same(out['default-address-pools'], [{ base: '10.10.0.0/16', size: 24 }]);
  t.notOk('default-runtime' in out, 'no default-runtime unless asked');
  t.ok(r.text.endsWith('}\n'), 'a trailing newline');
});

t.test('an existing entry updated: its path, its runtimeArgs kept, a runtimeType dropped', async (t) => {
  const text = JSON.stringify({ runtimes: { slaac: { path: '/opt/old/oci-slaac-runtime', runtimeArgs: ['--slaac-config', '/etc/x.toml'] } } });
  const r = addDockerRuntime(text, ours);
  t.same(JSON.parse(r.text), { runtimes: { slaac: { path: ours.path, runtimeArgs: ['--slaac-config', '/etc/x.toml'] } } });
  t.same(r.changed, ['runtimes.slaac.path: "/opt/old/oci-slaac-runtime" -> /usr/local/bin/oci-slaac-runtime']);

  const shim = addDockerRuntime(JSON.stringify({ runtimes: { slaac: { runtimeType: 'io.containerd.runc.v2', options: { BinaryName: 'x' } } } }), ours);
  t.same(JSON.parse(shim.text), { runtimes: { slaac: { path: ours.path } } });
  t.equal(shim.changed.length, 3);
  t.match(shim.changed[1], /^runtimes\.slaac\.runtimeType: removed/);

  const odd = addDockerRuntime(JSON.stringify({ runtimes: { slaac: 'runc' } }), ours);
  t.same(JSON.parse(odd.text), { runtimes: { slaac: { path: ours.path } } });
  t.same(odd.changed, ['runtimes.slaac: replaced (was a string), path /usr/local/bin/oci-slaac-runtime']);
});

t.test('idempotent: a second run changes nothing', async (t) => {
  const text = JSON.stringify({ debug: true, runtimes: { crun: { path: '/usr/bin/crun' } } }, null, '\t');
  for (const makeDefault of [false, true]) {
    const first = addDockerRuntime(text, { ...ours, makeDefault });
    t.not(first.changed.length, 0);
    const second = addDockerRuntime(first.text, { ...ours, makeDefault });
    t.same(second.changed, []);
    t.equal(second.text, first.text);
  }
  // Asked without --default after a run with it: the default is left as it is, not taken back.
  const withDefault = addDockerRuntime(text, { ...ours, makeDefault: true }).text;
  t.same(addDockerRuntime(withDefault, ours).changed, []);
});

t.test('default-runtime: set only when asked; another default left alone unless asked', async (t) => {
  const theirs = JSON.stringify({ 'default-runtime': 'crun', runtimes: { crun: { path: '/usr/bin/crun' } } });
  const kept = addDockerRuntime(theirs, ours);
  t.equal((JSON.parse(kept.text) as Record<string, unknown>)['default-runtime'], 'crun');
  t.same(kept.changed, ['runtimes.slaac: added, path /usr/local/bin/oci-slaac-runtime']);

  const taken = addDockerRuntime(theirs, { ...ours, makeDefault: true });
  const out = JSON.parse(taken.text) as Record<string, unknown>;
  t.equal(out['default-runtime'], 'slaac');
  t.same(Object.keys(out), ['default-runtime', 'runtimes'], 'in its place');
  t.same(taken.changed, ['runtimes.slaac: added, path /usr/local/bin/oci-slaac-runtime', 'default-runtime: "crun" -> "slaac"']);

  const fresh = addDockerRuntime(undefined, { ...ours, makeDefault: true });
  t.same(fresh.changed[1], 'default-runtime: set to "slaac" (was dockerd\'s default, "runc")');
});

t.test('a runtime named like an Object.prototype member is a runtime like any other', async (t) => {
  const r = addDockerRuntime('{}', { ...ours, name: 'constructor' });
  t.same(r.changed, ['runtimes.constructor: added, path /usr/local/bin/oci-slaac-runtime']);
  t.same(addDockerRuntime(r.text, { ...ours, name: 'constructor' }).changed, []);
});

t.test('not JSON, not an object, runtimes not an object: refused, one line, never the content', async (t) => {
  t.equal(refusal(t, '{"runtimes": {"x": }'), 'daemon.json is not valid JSON (at byte 19)');
  t.equal(refusal(t, '{"secret-token": "hunter2",'), 'daemon.json is not valid JSON (at byte 27)');
  t.equal(refusal(t, '[]'), 'daemon.json must be a JSON object, got an array');
  t.equal(refusal(t, 'null'), 'daemon.json must be a JSON object, got null');
  t.equal(refusal(t, '"x"'), 'daemon.json must be a JSON object, got a string');
  t.equal(refusal(t, '{"runtimes": []}'), 'daemon.json: "runtimes" must be a JSON object, got an array');
  t.equal(refusal(t, '{"runtimes": null}'), 'daemon.json: "runtimes" must be a JSON object, got null');
  t.equal(refusal(t, '{"runtimes": "runc"}'), 'daemon.json: "runtimes" must be a JSON object, got a string');
  // Parsed fine, but too deep to print again: still an InputError, not a RangeError.
  const deep = `{"x": ${'['.repeat(200000)}${']'.repeat(200000)}}`;
  t.equal(refusal(t, deep), 'daemon.json is nested too deeply');
});

t.test('a bad name or a relative path: refused, one line', async (t) => {
  for (const name of ['', '-x', '.x', '_x', 'a b', 'a/b', 'x'.repeat(65), 'slaac\n', '__proto__']) {
    t.match(refusal(t, '{}', { ...ours, name }), /^runtime name .* must be 1\.\.64 letters, digits/, JSON.stringify(name));
  }
  t.same(addDockerRuntime('{}', { ...ours, name: `a${'b'.repeat(63)}` }).changed.length, 1, '64 characters is fine');
  for (const path of ['', 'oci-slaac-runtime', './bin/oci-slaac-runtime', '/usr/bin/x\n', `/${'x'.repeat(4096)}`]) {
    t.match(refusal(t, '{}', { ...ours, path }), /^runtime path .* must be an absolute path/, JSON.stringify(path.slice(0, 40)));
  }
});
