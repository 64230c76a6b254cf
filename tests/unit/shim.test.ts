// The runtime wrapper's pieces (hooks/shim.ts) that run before the exec: finding the real runtime
// (never ourselves), the hooks it adds, config.json replaced atomically with its mode, and the fds
// handed on. The exec itself (native execve) is the VM tests' business.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import t from 'tap';
import { InputError } from '../../runtime/core/errors';
import { addHooksToBundle, inheritedFds, ourHooks, resolveRuntime } from '../../hooks/shim';
import { parseShimConfig } from '../../runtime/core/shim-config';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-unit-'));
t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));

function executable(file: string): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return file;
}

// ------------------------------------------------------------------ resolveRuntime

t.test('resolveRuntime: the first executable file of that name in PATH', async (t) => {
  const a = path.join(tmp, 'path-a');
  const b = path.join(tmp, 'path-b');
  fs.mkdirSync(a, { recursive: true });
  fs.writeFileSync(path.join(a, 'runc'), 'not executable', { mode: 0o644 });
  fs.mkdirSync(path.join(a, 'crun'), { recursive: true }); // a directory is not a runtime
  const runc = executable(path.join(b, 'runc'));
  const crun = executable(path.join(b, 'crun'));
  const self = executable(path.join(tmp, 'self', 'oci-slaac-runtime'));
  t.equal(resolveRuntime('runc', `${path.join(tmp, 'none')}:${a}:${b}`, self), runc, 'skips a missing dir and a non-executable file');
  t.equal(resolveRuntime('crun', `${a}:${b}`, self), crun, 'skips a directory');
  t.equal(resolveRuntime('runc', `${b}:${a}`, self), runc);
});

t.test('resolveRuntime: relative PATH entries are skipped', async (t) => {
  const rel = path.join(tmp, 'rel-cwd');
  executable(path.join(rel, 'bin', 'runc'));
  const prev = process.cwd();
  process.chdir(rel);
  t.teardown(() => process.chdir(prev));
  const self = path.join(tmp, 'self', 'oci-slaac-runtime');
  t.throws(() => resolveRuntime('runc', 'bin::.:./bin', self), /the runtime "runc" \(\[shim\] runtime\) is not in PATH \(bin::\.:\.\/bin\)/);
  const abs = executable(path.join(tmp, 'abs-bin', 'runc'));
  t.equal(resolveRuntime('runc', `bin:${path.dirname(abs)}`, self), abs);
});

t.test('resolveRuntime: an absolute path is taken as it is', async (t) => {
  t.equal(resolveRuntime('/usr/local/sbin/runc-custom', '/nowhere', '/x/oci-slaac-runtime'), '/usr/local/sbin/runc-custom', 'not looked up (the exec reports a missing one)');
  const runc = executable(path.join(tmp, 'abs', 'runc'));
  t.equal(resolveRuntime(runc, '', '/x/oci-slaac-runtime'), runc);
});

t.test('resolveRuntime: a name not found is refused, naming it and PATH', async (t) => {
  const empty = path.join(tmp, 'empty');
  fs.mkdirSync(empty, { recursive: true });
  t.throws(() => resolveRuntime('runsc', `${empty}:/nonexistent-dir`, '/x/self'), { message: `the runtime "runsc" ([shim] runtime) is not in PATH (${empty}:/nonexistent-dir)` });
  t.throws(() => resolveRuntime('runsc', '', '/x/self'), /"runsc".*not in PATH \(\)/);
});

t.test('resolveRuntime: never this wrapper itself (directly or through a symlink)', async (t) => {
  const dir = path.join(tmp, 'selfdir');
  const self = executable(path.join(dir, 'oci-slaac-runtime'));
  fs.symlinkSync(self, path.join(dir, 'runc'));
  t.throws(() => resolveRuntime('oci-slaac-runtime', dir, self), /\[shim\] runtime names oci-slaac-runtime itself .*it must be the real runtime \(runc, crun\)/);
  t.throws(() => resolveRuntime('runc', dir, self), /names oci-slaac-runtime itself \(.*\/selfdir\/runc\)/, 'runc a symlink to us');
  t.throws(() => resolveRuntime(self, '', self), /itself/, 'an absolute path to us');
  // install.sh's launcher script: another file than the bundle we run from, but ourselves by name.
  const launcher = executable(path.join(tmp, 'prefix-bin', 'oci-slaac-runtime'));
  t.throws(() => resolveRuntime('oci-slaac-runtime', path.dirname(launcher), '/usr/local/lib/oci-slaac-hook/dist/oci-slaac-runtime.js'), /names oci-slaac-runtime itself/, 'the installed launcher, by name');
  // self given through a symlink, the runtime the real file.
  const link = path.join(tmp, 'self-link');
  fs.symlinkSync(self, link);
  t.throws(() => resolveRuntime('oci-slaac-runtime', dir, link), /itself/);
  const other = executable(path.join(tmp, 'other', 'runc'));
  t.equal(resolveRuntime('runc', path.dirname(other), self), other, 'another file of the same content is fine');
});

// ------------------------------------------------------------------ ourHooks

t.test('ourHooks: this node, the hook beside the wrapper, its stage and config, a clean env, timeout 30', async (t) => {
  const env = { PATH: '/home/u/bin:/usr/bin', HOME: '/root', OCI_SLAAC_HOOK_CONFIG: '/etc/x.toml', OCI_SLAAC_HOOK_SECRET: '/etc/s', OCI_SLAAC_HOOK_SYSLOG: '1', OCI_SLAAC_HOOKX: 'no', SECRET: 'nope' };
  const h = ourHooks('/etc/oci-slaac-hook/config.toml', env);
  t.same(Object.keys(h).sort(), ['createRuntime', 'poststop']);
  const dir = path.resolve(__dirname, '..', '..', 'hooks');
  for (const stage of ['createRuntime', 'poststop'] as const) {
    const hook = h[stage];
    t.equal(hook.path, process.execPath);
    t.equal(hook.args?.length, 5);
    t.equal(hook.args?.[0], 'node');
    t.equal(path.basename(hook.args?.[1] ?? ''), 'oci-slaac-hook.js');
    t.ok(path.isAbsolute(hook.args?.[1] ?? ''), 'absolute');
    t.equal(path.dirname(hook.args?.[1] ?? ''), dir, 'beside shim.js');
    t.same(hook.args?.slice(2), [stage, '--config', '/etc/oci-slaac-hook/config.toml']);
    t.same(hook.env, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'OCI_SLAAC_HOOK_SECRET=/etc/s', 'OCI_SLAAC_HOOK_SYSLOG=1'], 'PATH fixed, OCI_SLAAC_HOOK_* handed on but the config (--config says it)');
    t.equal(hook.timeout, 30);
  }
  t.same(ourHooks('/c.toml', {}).createRuntime.env, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']);
});

// ------------------------------------------------------------------ addHooksToBundle

function bundle(name: string, config: string, mode = 0o600): string {
  const dir = path.join(tmp, name);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), config);
  fs.chmodSync(path.join(dir, 'config.json'), mode);
  return dir;
}

t.test('addHooksToBundle: config.json replaced with our hooks, mode kept, no temp file left', async (t) => {
  const text = '{"ociVersion":"1.0.2","linux":{"resources":{"memory":{"limit":18446744073709551615}}}}';
  for (const mode of [0o600, 0o644, 0o640]) {
    const dir = bundle(`b-${mode.toString(8)}`, text, mode);
    const file = path.join(dir, 'config.json');
    const before = fs.statSync(file);
    t.equal(addHooksToBundle(dir, '/etc/oci-slaac-hook/config.toml'), true);
    const after = fs.statSync(file);
    t.equal(after.mode & 0o7777, mode, `mode ${mode.toString(8)} kept`);
    t.not(after.ino, before.ino, 'replaced (a new inode, renamed over), not written in place');
    t.same(fs.readdirSync(dir), ['config.json'], 'no temp file left');
    const out = fs.readFileSync(file, 'utf8');
    t.ok(out.includes('"limit":18446744073709551615'));
    const doc = JSON.parse(out) as { hooks: Record<string, { args: string[] }[]> };
    t.same(doc.hooks.createRuntime?.[0]?.args.slice(2), ['createRuntime', '--config', '/etc/oci-slaac-hook/config.toml']);
    t.same(doc.hooks.poststop?.[0]?.args.slice(2), ['poststop', '--config', '/etc/oci-slaac-hook/config.toml']);
  }
});

t.test('addHooksToBundle: the second call returns false and does not touch the file', async (t) => {
  const dir = bundle('b-twice', '{"a":1}');
  const file = path.join(dir, 'config.json');
  t.equal(addHooksToBundle(dir, '/c.toml'), true);
  const past = new Date(Date.now() - 3600_000);
  fs.utimesSync(file, past, past);
  const first = fs.statSync(file);
  const text = fs.readFileSync(file, 'utf8');
  t.equal(addHooksToBundle(dir, '/c.toml'), false);
  const second = fs.statSync(file);
  t.equal(second.ino, first.ino, 'same inode');
  t.equal(second.mtimeMs, first.mtimeMs, 'same mtime');
  t.equal(fs.readFileSync(file, 'utf8'), text);
  t.same(fs.readdirSync(dir), ['config.json']);
  t.equal(addHooksToBundle(dir, '/other.toml'), true, 'another config path: other hooks, added');
});

t.test('addHooksToBundle: config.json a symlink is refused, the target untouched', async (t) => {
  const dir = path.join(tmp, 'b-link');
  fs.mkdirSync(dir, { recursive: true });
  const target = path.join(tmp, 'elsewhere.json');
  fs.writeFileSync(target, '{}');
  fs.symlinkSync(target, path.join(dir, 'config.json'));
  t.throws(() => addHooksToBundle(dir, '/c.toml'), new InputError(`${path.join(dir, 'config.json')} is a symbolic link: refused (it must be a regular file of its own)`));
  t.equal(fs.readFileSync(target, 'utf8'), '{}');
  t.ok(fs.lstatSync(path.join(dir, 'config.json')).isSymbolicLink());
});

t.test('addHooksToBundle: a missing or malformed config.json is refused, nothing written', async (t) => {
  const none = path.join(tmp, 'b-none');
  fs.mkdirSync(none, { recursive: true });
  t.throws(() => addHooksToBundle(none, '/c.toml'), InputError);
  t.same(fs.readdirSync(none), []);
  const bad = bundle('b-bad', '[1,2]');
  t.throws(() => addHooksToBundle(bad, '/c.toml'), { name: 'InputError', message: `${path.join(bad, 'config.json')} must be a JSON object` });
  t.equal(fs.readFileSync(path.join(bad, 'config.json'), 'utf8'), '[1,2]');
  t.same(fs.readdirSync(bad), ['config.json']);
});

// ------------------------------------------------------------------ inheritedFds

t.test('inheritedFds: stdio, plus 3 … 3+N-1 for --preserve-fds N', async (t) => {
  t.same(inheritedFds(undefined), [0, 1, 2]);
  t.same(inheritedFds(0), [0, 1, 2]);
  t.same(inheritedFds(2), [0, 1, 2, 3, 4]);
  t.equal(inheritedFds(5000).length, 3 + 1024, 'bounded');
});

t.test('parseShimConfig: [shim] alone — a mistake elsewhere is the hook\'s to refuse, not a runtime call\'s', async (t) => {
  t.same(parseShimConfig('parent = "eth0"\n', 'c.toml'), { runtime: 'runc' }, 'no [shim]: runc');
  t.same(parseShimConfig('[shim]\nruntime = "crun"\n[policy]\nexpose = "tcp:0"\n[dns]\nzone = 7\n', 'c.toml'), { runtime: 'crun' }, 'bad [policy] and [dns] do not stop it');
  t.throws(() => parseShimConfig('[shim]\nruntime = "../runc"\n', 'c.toml'), /^config c\.toml \[shim\]: runtime must be a program name/);
  t.throws(() => parseShimConfig('shim = 1\n', 'c.toml'), /shim must be a table/);
  t.throws(() => parseShimConfig('[shim\n', 'c.toml'), /^config c\.toml: not valid TOML/);
});
