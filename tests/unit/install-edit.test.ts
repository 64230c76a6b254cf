// `oci-slaac-hook install`'s edits of others' files: config.toml's `parent` (the rest byte for
// byte), containerd's config.toml (one marked block, other tables kept, removed exactly),
// Docker's daemon.json (our runtime removed, theirs kept); and the shipped hooks.d files and unit
// are the renderer's output for /usr/local.
import t, { type Test } from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'smol-toml';
import { InputError } from '../../runtime/core/errors';
import { setTopLevelString } from '../../runtime/core/toml-edit';
import { addContainerdRuntime, removeContainerdRuntime, CONTAINERD_MARKS } from '../../runtime/wire/oci/containerd-config';
import { addDockerRuntime, removeDockerRuntime } from '../../runtime/wire/oci/daemon-json';
import { CONFIG_TEMPLATE, agentUnit, hooksDFile, launcher } from '../../hooks/install-files';

const ROOT = path.join(__dirname, '..', '..');
const WRAPPER = '/usr/local/bin/oci-slaac-runtime';

function refused(t: Test, f: () => unknown, re: RegExp): void {
  try {
    f();
    t.fail('not refused');
  } catch (err) {
    t.type(err, InputError);
    t.notMatch((err as Error).message, /\n/, 'one line');
    t.match((err as Error).message, re);
  }
}

t.test('config.toml: the template\'s commented parent taken, its comment kept, nothing else touched', async (t) => {
  const r = setTopLevelString(CONFIG_TEMPLATE, 'parent', 'ins0', 'config.toml');
  t.ok(r.changed);
  const before = CONFIG_TEMPLATE.split('\n');
  const after = r.text.split('\n');
  t.equal(after.length, before.length, 'same number of lines');
  const diff = after.map((l, i) => [i, l, before[i]] as const).filter(([, a, b]) => a !== b);
  t.equal(diff.length, 1, 'one line differs');
  t.match(diff[0]?.[1], /^parent = "ins0"  # the physical NIC/);
  t.same(parse(r.text), { parent: 'ins0' });
  t.same(setTopLevelString(r.text, 'parent', 'ins0', 'c'), { text: r.text, changed: false }, 'the same again: unchanged');
});

t.test('config.toml: an existing parent replaced; tables and a table\'s own parent key untouched', async (t) => {
  const text = '# mine\nparent = "eth0" # old\nmode = "ipvlan"\n\n[annotation_allow]\nparent = ["eth1"]\n[dns]\nserver = "2001:db8::53"\n';
  const r = setTopLevelString(text, 'parent', 'eth9', 'c');
  t.equal(r.text, text.replace('parent = "eth0" # old', 'parent = "eth9"'));
  t.same(parse(r.text), { parent: 'eth9', mode: 'ipvlan', annotation_allow: { parent: ['eth1'] }, dns: { server: '2001:db8::53' } });
});

t.test('config.toml: no parent line at all: one added after the leading comments', async (t) => {
  const text = '# my config\n# second line\n\nstate_dir = "/run/x"\n[dns]\nzone = "z"\n';
  const r = setTopLevelString(text, 'parent', 'eth1', 'c');
  t.equal(r.text, '# my config\n# second line\n\nparent = "eth1"\nstate_dir = "/run/x"\n[dns]\nzone = "z"\n');
  const headerOnly = '[dns]\nzone = "z"\n';
  t.equal(setTopLevelString(headerOnly, 'parent', 'eth1', 'c').text, `parent = "eth1"\n${headerOnly}`, 'a file that opens with a table: the key before it');
});

t.test('config.toml: an edit that would change anything else is refused, in one line', async (t) => {
  refused(t, () => setTopLevelString('not toml = = 1\n', 'parent', 'x', '/etc/c.toml'), /not valid TOML/);
  // A multi-line string whose line looks like the key: the parse check catches it.
  refused(t, () => setTopLevelString('note = """\nparent = "x"\n"""\n', 'parent', 'y', '/etc/c.toml'), /cannot set parent .* by hand/);
});

const V2 = `version = 2
root = "/var/lib/containerd"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.9"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia.options]
        BinaryName = "/usr/bin/nvidia-container-runtime"
`;

t.test('containerd: our table appended in a marked block, every other entry kept; a second run changes nothing; removal restores the bytes', async (t) => {
  const r = addContainerdRuntime(V2, { name: 'slaac', path: WRAPPER }, 'c.toml');
  t.ok(r.ours);
  t.same(r.changed, ['plugins."io.containerd.grpc.v1.cri".containerd.runtimes.slaac: added, BinaryName /usr/local/bin/oci-slaac-runtime']);
  t.ok(r.text.startsWith(V2), 'the file as it was, then ours');
  const doc = parse(r.text) as { plugins: Record<string, { containerd: { runtimes: Record<string, unknown>; default_runtime_name: string } }> };
  const cri = doc.plugins['io.containerd.grpc.v1.cri'];
  t.same(cri?.containerd.runtimes.slaac, { runtime_type: 'io.containerd.runc.v2', options: { BinaryName: WRAPPER } });
  t.same(Object.keys(cri?.containerd.runtimes ?? {}), ['runc', 'nvidia', 'slaac'], 'theirs kept');
  t.equal(cri?.containerd.default_runtime_name, 'runc', 'the default untouched');
  t.match(r.text, CONTAINERD_MARKS.begin);

  const again = addContainerdRuntime(r.text, { name: 'slaac', path: WRAPPER }, 'c.toml');
  t.same(again, { text: r.text, changed: [], ours: true }, 'second run: nothing to change');
  const moved = addContainerdRuntime(r.text, { name: 'slaac', path: '/opt/bin/oci-slaac-runtime' }, 'c.toml');
  t.match(moved.changed[0], /updated, BinaryName \/opt\/bin/, 'our block updated in place');
  t.equal(moved.text.split(CONTAINERD_MARKS.begin).length, 2, 'still one block');

  const back = removeContainerdRuntime(r.text, 'slaac', 'c.toml');
  t.ok(back.changed);
  t.equal(back.text, V2, 'removed: the file byte for byte as before');
  t.notOk(back.emptied);
  t.same(removeContainerdRuntime(V2, 'slaac', 'c.toml'), { text: V2, changed: false, emptied: false }, 'no block: nothing to remove');
});

t.test('containerd: no file, a version 3 file, a version 1 file', async (t) => {
  const made = addContainerdRuntime(undefined, { name: 'slaac', path: WRAPPER }, 'c.toml');
  t.same(parse(made.text), { version: 2, plugins: { 'io.containerd.grpc.v1.cri': { containerd: { runtimes: { slaac: { runtime_type: 'io.containerd.runc.v2', options: { BinaryName: WRAPPER } } } } } } });
  t.ok(removeContainerdRuntime(made.text, 'slaac', 'c.toml').emptied, 'removed again: nothing but version left');
  const v3 = addContainerdRuntime("version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd]\n  default_runtime_name = 'runc'\n", { name: 'slaac', path: WRAPPER }, 'c.toml');
  t.same((parse(v3.text) as { plugins: Record<string, unknown> }).plugins, { 'io.containerd.cri.v1.runtime': { containerd: { default_runtime_name: 'runc', runtimes: { slaac: { runtime_type: 'io.containerd.runc.v2', options: { BinaryName: WRAPPER } } } } } });
  const v1 = addContainerdRuntime('[plugins.cri]\n  stream_server_port = "0"', { name: 'slaac', path: WRAPPER }, 'c.toml');
  t.match(v1.text, /^\[plugins\.cri\]\n  stream_server_port = "0"\n\n# oci-slaac-hook: begin/, 'a file without a final newline gets one');
  t.same((parse(v1.text) as { plugins: { cri: { containerd: unknown } } }).plugins.cri.containerd, { runtimes: { slaac: { runtime_type: 'io.containerd.runc.v2', options: { BinaryName: WRAPPER } } } });
});

t.test("containerd: the operator's runtime of that name: equal is left alone, different is refused; inline tables refused", async (t) => {
  const theirs = `version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.slaac]\n  runtime_type = "io.containerd.runc.v2"\n  options = { BinaryName = "${WRAPPER}" }\n`;
  t.same(addContainerdRuntime(theirs, { name: 'slaac', path: WRAPPER }, 'c.toml'), { text: theirs, changed: [], ours: false }, 'equal: not added, not ours');
  refused(t, () => addContainerdRuntime(theirs.replace(WRAPPER, '/usr/bin/runc'), { name: 'slaac', path: WRAPPER }, '/etc/containerd/config.toml'), /already \(BinaryName "\/usr\/bin\/runc"\)/);
  const inline = 'version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  containerd = { default_runtime_name = "runc" }\n';
  refused(t, () => addContainerdRuntime(inline, { name: 'slaac', path: WRAPPER }, 'c.toml'), /invalid TOML|by hand/);
  refused(t, () => addContainerdRuntime('x = [', { name: 'slaac', path: WRAPPER }, 'c.toml'), /not valid TOML/);
  refused(t, () => addContainerdRuntime(`${CONTAINERD_MARKS.begin}\n`, { name: 'slaac', path: WRAPPER }, 'c.toml'), /has no "# oci-slaac-hook: end"/);
  refused(t, () => addContainerdRuntime(V2, { name: 'slaac', path: 'relative/x' }, 'c.toml'), /absolute path/);
});

t.test("daemon.json: ours removed, theirs kept; a runtime changed since is kept; the runtimes key dropped only when it was ours", async (t) => {
  const theirs = JSON.stringify({ 'log-level': 'warn', runtimes: { crun: { path: '/usr/bin/crun' } }, ipv6: true });
  const added = addDockerRuntime(theirs, { name: 'slaac', path: WRAPPER, makeDefault: false });
  const r = removeDockerRuntime(added.text, { name: 'slaac', path: WRAPPER, dropEmptyRuntimes: false });
  t.same(r.changed, ['runtimes.slaac: removed']);
  t.same(JSON.parse(r.text), JSON.parse(theirs));
  t.same(Object.keys(JSON.parse(r.text) as object), ['log-level', 'runtimes', 'ipv6'], 'keys in their order');
  const mine = addDockerRuntime('{"debug": true}', { name: 'slaac', path: WRAPPER, makeDefault: false });
  const gone = removeDockerRuntime(mine.text, { name: 'slaac', path: WRAPPER, dropEmptyRuntimes: true });
  t.same(JSON.parse(gone.text), { debug: true }, 'the runtimes key was ours: gone');
  t.notOk(gone.emptied);
  const onlyOurs = addDockerRuntime(undefined, { name: 'slaac', path: WRAPPER, makeDefault: false });
  t.ok(removeDockerRuntime(onlyOurs.text, { name: 'slaac', path: WRAPPER, dropEmptyRuntimes: true }).emptied, 'a file of ours alone: emptied');
  const changed = addDockerRuntime(theirs, { name: 'slaac', path: '/opt/other', makeDefault: false }).text;
  const kept = removeDockerRuntime(changed, { name: 'slaac', path: WRAPPER, dropEmptyRuntimes: true });
  t.same(kept.changed, []);
  t.equal(kept.text, changed, 'untouched');
  t.match(kept.kept, /kept \(changed since install/);
});

t.test('the shipped hooks.d files and unit are the renderer\'s output for /usr/local', async (t) => {
  const inst = { node: '/usr/bin/node', dist: '/usr/local/lib/oci-slaac-hook/dist' };
  for (const stage of ['prestart', 'poststop'] as const) {
    const shipped: unknown = JSON.parse(fs.readFileSync(path.join(ROOT, 'hooks', 'hooks.d', `oci-slaac-hook-${stage}.json`), 'utf8'));
    t.same(JSON.parse(hooksDFile(inst, stage, '/etc/oci-slaac-hook/config.toml')), shipped, `hooks.d ${stage}`);
  }
  t.equal(agentUnit(inst, '/etc/oci-slaac-hook/config.toml'), fs.readFileSync(path.join(ROOT, 'hooks', 'oci-slaac-hook-agent.service'), 'utf8'), 'the unit');
  const other = JSON.parse(hooksDFile(inst, 'prestart', '/tmp/x y/config.toml', ['OCI_SLAAC_HOOK_STATE_LIB=/tmp/l'])) as { hook: { args: string[]; env: string[] } };
  t.same(other.hook.args.slice(2), ['prestart', '--config', '/tmp/x y/config.toml'], 'another config: named');
  t.same(other.hook.env, ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'OCI_SLAAC_HOOK_STATE_LIB=/tmp/l']);
  t.match(agentUnit(inst, '/tmp/x y/config.toml'), /^ExecStart=\/usr\/bin\/node \S+ agent --config "\/tmp\/x y\/config.toml"$/m, 'a path with a space quoted');
  t.equal(launcher({ node: "/opt/n'ode", dist: '/d' }, 'oci-slaac-cni'), `#!/bin/sh\nexec '/opt/n'\\''ode' '/d/oci-slaac-cni.js' "$@"\n`);
});
