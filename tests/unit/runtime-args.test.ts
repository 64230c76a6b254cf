// The runtime wrapper's reading of an OCI runtime's command line (wire/oci/runtime-args.ts): the
// lines Docker (through containerd's runc shim), containerd and crun's users really pass; our
// --slaac-config taken out, everything else handed on in order; never a throw.
import t from 'tap';
import { parseRuntimeArgs } from '../../runtime/wire/oci/runtime-args';

const ID = '3f1c0b2a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a';

t.test("Docker's create line (containerd-shim-runc-v2): command, bundle, argv unchanged", async (t) => {
  const line = [
    '--root', '/var/run/docker/runtime-runc/moby',
    '--log', `/run/containerd/io.containerd.runtime.v2.task/moby/${ID}/log.json`,
    '--log-format', 'json',
    'create',
    '--bundle', `/run/containerd/io.containerd.runtime.v2.task/moby/${ID}`,
    '--pid-file', `/run/containerd/io.containerd.runtime.v2.task/moby/${ID}/init.pid`,
    ID,
  ];
  const p = parseRuntimeArgs(line);
  t.equal(p.command, 'create');
  t.equal(p.bundle, `/run/containerd/io.containerd.runtime.v2.task/moby/${ID}`);
  t.same(p.argv, line);
  t.equal(p.problem, undefined);
  t.equal(p.slaacConfig, undefined);
  t.equal(p.preserveFds, undefined);
});

t.test("containerd's line with --systemd-cgroup (a switch among the globals)", async (t) => {
  const line = ['--root', '/run/containerd/runc/k8s.io', '--log', '/run/l/log.json', '--log-format', 'json', '--systemd-cgroup', 'create', '--bundle', '/run/b', '--pid-file', '/run/b/init.pid', 'abc'];
  const p = parseRuntimeArgs(line);
  t.equal(p.command, 'create');
  t.equal(p.bundle, '/run/b');
  t.same(p.argv, line);
  t.equal(p.problem, undefined);
});

t.test("crun's --cgroup-manager systemd global takes a value, not the command's place", async (t) => {
  const line = ['--cgroup-manager', 'systemd', '--log-level', 'debug', 'create', '-b', '/b', 'c1'];
  const p = parseRuntimeArgs(line);
  t.equal(p.command, 'create');
  t.equal(p.bundle, '/b');
  t.same(p.argv, line);
  t.same(parseRuntimeArgs(['--cgroup-manager=systemd', 'run', '--bundle=/b', 'c1']).command, 'run');
});

t.test('every bundle form: -b X, --bundle X, --bundle=X, -b=X; none: undefined', async (t) => {
  for (const form of [['-b', '/x/y'], ['--bundle', '/x/y'], ['--bundle=/x/y'], ['-b=/x/y']]) {
    const line = ['create', ...form, 'c1'];
    const p = parseRuntimeArgs(line);
    t.equal(p.bundle, '/x/y', form.join(' '));
    t.same(p.argv, line);
  }
  t.equal(parseRuntimeArgs(['create', '--bundle=rel/dir', 'c1']).bundle, 'rel/dir', 'relative, as given');
  const none = parseRuntimeArgs(['--root', '/r', 'create', '--pid-file', '/p', 'c1']);
  t.equal(none.command, 'create');
  t.equal(none.bundle, undefined, 'no bundle: the current directory, left to the caller');
  t.equal(none.problem, undefined);
  t.equal(parseRuntimeArgs(['create', '-b', '/one', '--bundle', '/two', 'c1']).bundle, '/two', 'the last one, as a flag parser takes it');
});

t.test('run is read as create is', async (t) => {
  const line = ['--root', '/r', 'run', '--bundle', '/b', '--detach', 'c1'];
  const p = parseRuntimeArgs(line);
  t.equal(p.command, 'run');
  t.equal(p.bundle, '/b');
  t.same(p.argv, line);
});

t.test('--slaac-config among the globals: taken out of argv, the last one wins', async (t) => {
  const p = parseRuntimeArgs(['--slaac-config', '/etc/a.toml', '--root', '/r', '--slaac-config=/etc/b.toml', 'create', '--bundle', '/b', 'c1']);
  t.equal(p.slaacConfig, '/etc/b.toml');
  t.same(p.argv, ['--root', '/r', 'create', '--bundle', '/b', 'c1']);
  t.equal(p.problem, undefined);
  t.equal(p.bundle, '/b');
  const q = parseRuntimeArgs(['--slaac-config=/etc/a.toml', '--slaac-config', '/etc/c.toml', 'state', 'c1']);
  t.equal(q.slaacConfig, '/etc/c.toml');
  t.same(q.argv, ['state', 'c1']);
});

t.test('pass-through commands: argv identical, no bundle', async (t) => {
  for (const cmd of [['state', 'c1'], ['kill', 'c1', '9'], ['delete', '--force', 'c1'], ['start', 'c1'], ['exec', '--process', '/p.json', 'c1'], ['ps', '--format', 'json', 'c1']]) {
    const line = ['--root', '/run/runc', '--log-format', 'json', ...cmd];
    const p = parseRuntimeArgs(line);
    t.equal(p.command, cmd[0]);
    t.same(p.argv, line, cmd.join(' '));
    t.equal(p.bundle, undefined);
    t.equal(p.problem, undefined);
  }
  t.same(parseRuntimeArgs(['delete', '--bundle', '/b', 'c1']).bundle, undefined, 'a --bundle after another command is not ours to read');
});

t.test('--version, --help, nothing: no command, argv as given', async (t) => {
  for (const line of [['--version'], ['-v'], ['--help'], [], ['--root', '/r']]) {
    const p = parseRuntimeArgs(line);
    t.equal(p.command, undefined, JSON.stringify(line));
    t.same(p.argv, line);
    t.equal(p.problem, undefined);
  }
});

t.test('a value flag with nothing after it, or --slaac-config empty: a problem, no throw', async (t) => {
  const root = parseRuntimeArgs(['--root']);
  t.match(root.problem, /--root needs a value/);
  t.equal(root.command, undefined);
  t.same(root.argv, ['--root'], 'handed on as it is');
  t.match(parseRuntimeArgs(['--log-format', 'json', '--log']).problem, /--log needs a value/);
  t.match(parseRuntimeArgs(['--slaac-config=', 'create', 'c1']).problem, /--slaac-config needs a path/);
  t.equal(parseRuntimeArgs(['--slaac-config=', 'create', 'c1']).slaacConfig, undefined);
  t.same(parseRuntimeArgs(['--slaac-config=', 'create', 'c1']).argv, ['create', 'c1'], 'the empty one is still taken out');
  t.match(parseRuntimeArgs(['--slaac-config', '', 'state', 'c1']).problem, /--slaac-config needs a path/);
  const end = parseRuntimeArgs(['--slaac-config']);
  t.ok(end.problem, '--slaac-config at the end: a problem');
  // Found by this test: at the end of the line with no value, --slaac-config is left in argv
  // (the generic "needs a value" branch pushes it before the "ours" check). Harmless today —
  // runShim refuses any line with a problem before exec — but ours should never reach the runtime.
  t.notOk(end.argv.includes('--slaac-config'), '--slaac-config with no value is not handed on');
  t.match(parseRuntimeArgs(['create', '--bundle']).problem, /--bundle needs a value/);
  t.match(parseRuntimeArgs(['create', '-b']).problem, /-b needs a value/);
});

t.test('--preserve-fds N and --preserve-fds=N', async (t) => {
  t.equal(parseRuntimeArgs(['create', '--preserve-fds', '2', '--bundle', '/b', 'c1']).preserveFds, 2);
  t.equal(parseRuntimeArgs(['create', '--preserve-fds=2', '--bundle', '/b', 'c1']).preserveFds, 2);
  const p = parseRuntimeArgs(['run', '--preserve-fds', '2', 'c1']);
  t.equal(p.preserveFds, 2);
  t.equal(p.bundle, undefined, 'the value of --preserve-fds is not a bundle');
  t.equal(parseRuntimeArgs(['create', '--preserve-fds', 'x', 'c1']).preserveFds, undefined, 'not a number: ignored');
  t.equal(parseRuntimeArgs(['create', '--preserve-fds=-1', 'c1']).preserveFds, undefined);
  t.equal(parseRuntimeArgs(['create', '--preserve-fds', '99999999', 'c1']).preserveFds, undefined, 'an absurd count: ignored');
  t.equal(parseRuntimeArgs(['create', '--preserve-fds']).preserveFds, undefined, 'no value: no throw');
  t.equal(parseRuntimeArgs(['start', '--preserve-fds', '2', 'c1']).preserveFds, undefined, 'only create/run');
});

t.test('a create flag with a value does not confuse the bundle', async (t) => {
  for (const flag of ['--console-socket', '--pid-file', '--notify-socket']) {
    const p = parseRuntimeArgs(['create', flag, '-b', '--bundle', '/real', 'c1']);
    t.equal(p.bundle, '/real', `${flag} -b: the -b is ${flag}'s value`);
    t.equal(parseRuntimeArgs(['create', flag, '/s', '--bundle', '/b', 'c1']).bundle, '/b');
    t.equal(parseRuntimeArgs(['create', '--bundle', '/b', flag, '/s', 'c1']).bundle, '/b');
  }
  const line = ['create', '--console-socket', '/run/s.sock', '--pid-file', '/run/p', '--no-pivot', '-b', '/b', 'c1'];
  t.same(parseRuntimeArgs(line).argv, line);
  t.equal(parseRuntimeArgs(line).bundle, '/b');
});

t.test('after --, nothing is a flag', async (t) => {
  t.equal(parseRuntimeArgs(['create', '--', '--bundle', '/b']).bundle, undefined);
});

t.test('never throws on odd lines', async (t) => {
  const odd = [[''], ['-'], ['='], ['--='], ['-b'], ['create', ''], ['create', '-b='], ['--slaac-config', '--slaac-config'], ['--', 'create'], ['\u0000', 'x'], ['--root=', 'create']];
  for (const line of odd) t.doesNotThrow(() => parseRuntimeArgs(line), JSON.stringify(line));
  t.equal(parseRuntimeArgs(['create', '-b=']).bundle, '', '-b= : an empty bundle, as given');
});
