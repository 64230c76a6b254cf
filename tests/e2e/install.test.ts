// hooks/install.sh into a scratch prefix: the files it copies run from there (addon found beside
// the bundle), and the `oci-slaac-hook install` it ends with writes hooks.d files that point at the
// installed bundle, the runtime wrapper, DOCKER_DAEMON_JSON's runtime beside those already there.
// Then `oci-slaac-hook install` / `uninstall` in lab `ins` (two labs: ins0 hears a router
// advertising 2001:db8:c9::/64, ins1 one advertising 2001:db8:ca::/64 until it is stopped): it
// refuses to choose between two NICs that hear one, finds ins0 when ins1 falls silent, and with
// its files in podman's own hooks.d a container started with no extra flags gets its address; a
// second install changes nothing; uninstall leaves no file of ours and containers start as before;
// with no parent found containers start unaffected and doctor says why. Only the lab's veths are
// ever probed (--scan).
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, type RunResult } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { makeRootfs, podmanGlobalArgs, runtimeAvailable } from '../../vm/lab/containers';
import { stopRadvd } from './ra-router';

/** Every install.sh run: probe no NIC (never the machine's own), and the manifest in the scratch dir. */
const quiet = (dir: string): string[] => ['--scan=', '--state-lib', path.join(dir, 'lib')];

t.test('install.sh', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-install-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { PREFIX: path.join(dir, 'usr'), HOOKS_DIR: path.join(dir, 'hooks.d'), CONFIG_DIR: path.join(dir, 'etc'), SYSTEMD_DIR: path.join(dir, 'systemd') };
  const r = await run('sh', [path.join(__dirname, '..', '..', 'hooks', 'install.sh'), ...quiet(dir)], { env });
  t.equal(r.code, 0, r.stderr);
  const help = await run(path.join(env.PREFIX, 'bin', 'oci-slaac-hook'), ['status', '--config', path.join(env.CONFIG_DIR, 'config.toml'), '--json'], { env: { PATH: process.env.PATH ?? '' } });
  t.equal(help.code, 0, help.stderr);
  for (const stage of ['prestart', 'poststop']) {
    const hook = JSON.parse(fs.readFileSync(path.join(env.HOOKS_DIR, `oci-slaac-hook-${stage}.json`), 'utf8')) as { version: string; hook: { path: string; args: string[] }; stages: string[]; when: { always: boolean } };
    t.equal(hook.version, '1.0.0');
    t.same(hook.stages, [stage]);
    t.equal(hook.when.always, true);
    t.ok(fs.existsSync(hook.hook.path), `node at ${hook.hook.path}`);
    t.equal(hook.hook.args[1], path.join(env.PREFIX, 'lib', 'oci-slaac-hook', 'dist', 'oci-slaac-hook.js'));
    t.equal(hook.hook.args[2], stage);
  }
  for (const f of ['oci-slaac-hook.stage.js', 'oci-slaac-hook.stage.js.cache', 'oci-slaac-hook.delegate.js', 'oci-slaac-hook.delegate.js.cache']) {
    t.ok(fs.existsSync(path.join(env.PREFIX, 'lib', 'oci-slaac-hook', 'dist', f)), `${f} installed (a stage's bundle and the thin client)`);
  }
  t.match(fs.readFileSync(path.join(env.CONFIG_DIR, 'config.toml'), 'utf8'), /# parent = "eth0"/);
  for (const page of ['man8/oci-slaac-hook.8', 'man8/oci-slaac-runtime.8', 'man5/oci-slaac-hook.toml.5']) {
    t.match(fs.readFileSync(path.join(env.PREFIX, 'share', 'man', page), 'utf8'), /^\.TH /, `man page ${page}`);
  }
  // The agent's unit: Type=simple, restarted on failure, the installed bundle's `agent` with this config.
  const unit = fs.readFileSync(path.join(env.SYSTEMD_DIR, 'oci-slaac-hook-agent.service'), 'utf8');
  t.match(unit, /^Type=simple$/m);
  t.match(unit, /^Restart=on-failure$/m);
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(' ') ?? [];
  t.same(exec.slice(1), [path.join(env.PREFIX, 'lib', 'oci-slaac-hook', 'dist', 'oci-slaac-hook.js'), 'agent', '--config', path.join(env.CONFIG_DIR, 'config.toml')]);
  t.ok(exec[0] && fs.existsSync(exec[0]), `node at ${exec[0]}`);
  // The runtime wrapper: an executable script running the installed bundle with this node (the
  // daemons that run it may have another PATH).
  const wrapper = path.join(env.PREFIX, 'bin', 'oci-slaac-runtime');
  t.doesNotThrow(() => fs.accessSync(wrapper, fs.constants.X_OK), 'the wrapper is executable');
  const runs = /^exec '([^']+)' '([^']+)' "\$@"$/m.exec(fs.readFileSync(wrapper, 'utf8'));
  t.ok(runs?.[1] && fs.existsSync(runs[1]), `node at ${runs?.[1]}`);
  t.equal(runs?.[2], path.join(env.PREFIX, 'lib', 'oci-slaac-hook', 'dist', 'oci-slaac-runtime.js'));
  t.ok(runs?.[2] && fs.existsSync(runs[2]), 'the wrapper\'s bundle installed');
});

t.test('install.sh with DOCKER_DAEMON_JSON: our runtime added, theirs kept', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-install-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const daemonJson = path.join(dir, 'docker', 'daemon.json');
  fs.mkdirSync(path.dirname(daemonJson));
  fs.writeFileSync(daemonJson, JSON.stringify({ 'log-level': 'warn', runtimes: { crun: { path: '/usr/bin/crun' } } }));
  const env = {
    PREFIX: path.join(dir, 'usr'),
    HOOKS_DIR: path.join(dir, 'hooks.d'),
    CONFIG_DIR: path.join(dir, 'etc'),
    SYSTEMD_DIR: path.join(dir, 'systemd'),
    DOCKER_DAEMON_JSON: daemonJson,
  };
  const install = (): ReturnType<typeof run> => run('sh', [path.join(__dirname, '..', '..', 'hooks', 'install.sh'), ...quiet(dir)], { env });
  const r = await install();
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /runtimes\.slaac: added/);
  t.same(JSON.parse(fs.readFileSync(daemonJson, 'utf8')), {
    'log-level': 'warn',
    runtimes: { crun: { path: '/usr/bin/crun' }, slaac: { path: path.join(env.PREFIX, 'bin', 'oci-slaac-runtime') } },
  });
  const again = await install();
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, /^unchanged +\S+daemon\.json: runtimes\.slaac is /m);
  t.notMatch(again.stdout, /^(created|updated) /m, 'a second run changes nothing');
  // uninstall: our runtime out, theirs and the other keys kept.
  const un = await run(path.join(env.PREFIX, 'bin', 'oci-slaac-hook'), ['uninstall', '--state-lib', path.join(dir, 'lib')], { env: { NODE_OPTIONS: undefined } });
  t.equal(un.code, 0, un.stderr);
  t.same(JSON.parse(fs.readFileSync(daemonJson, 'utf8')), { 'log-level': 'warn', runtimes: { crun: { path: '/usr/bin/crun' } } }, 'uninstall: theirs kept, ours gone');
});

t.test('install.sh with CNI_BIN_DIR: the CNI plugin under its type name answers VERSION', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-install-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { PREFIX: path.join(dir, 'usr'), HOOKS_DIR: path.join(dir, 'hooks.d'), CONFIG_DIR: path.join(dir, 'etc'), SYSTEMD_DIR: path.join(dir, 'systemd'), CNI_BIN_DIR: path.join(dir, 'cni'), CNI_TYPE: 'slaac6' };
  const r = await run('sh', [path.join(__dirname, '..', '..', 'hooks', 'install.sh'), ...quiet(dir)], { env });
  t.equal(r.code, 0, r.stderr);
  const plugin = path.join(dir, 'cni', 'slaac6');
  t.match(r.stdout, `created   ${plugin} (the CNI plugin, type "slaac6")`);
  // Run as a runtime runs it: a bare environment (no PATH to node), CNI_COMMAND, the config on stdin.
  const v = await run(plugin, [], { baseEnv: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}' });
  t.equal(v.code, 0, v.stderr);
  t.same(JSON.parse(v.stdout), { cniVersion: '1.0.0', supportedVersions: ['1.0.0', '1.1.0'] });
});

t.test('install --containerd and --docker into files of theirs: other entries kept, uninstall takes ours out', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ins-edit-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const containerd = path.join(dir, 'containerd.toml');
  const daemonJson = path.join(dir, 'daemon.json');
  const theirsToml = 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]\n  runtime_type = "io.containerd.runc.v2"\n';
  const theirsJson = '{\n  "runtimes": {\n    "crun": {\n      "path": "/usr/bin/crun"\n    }\n  },\n  "debug": true\n}\n';
  fs.writeFileSync(containerd, theirsToml);
  fs.writeFileSync(daemonJson, theirsJson);
  const args = ['install', ...quiet(dir), '--prefix', path.join(dir, 'usr'), '--hooks-dir', path.join(dir, 'hooks.d'), '--config-dir', path.join(dir, 'etc'), '--systemd-dir', path.join(dir, 'systemd'), '--containerd', containerd, '--docker', daemonJson];
  const r = await cli(args);
  t.equal(r.code, 0, r.stderr);
  const wrapper = path.join(dir, 'usr', 'bin', 'oci-slaac-runtime');
  t.ok(fs.readFileSync(containerd, 'utf8').startsWith(theirsToml), "containerd's config: theirs first, as it was");
  t.match(fs.readFileSync(containerd, 'utf8'), `BinaryName = "${wrapper}"`);
  t.same(JSON.parse(fs.readFileSync(daemonJson, 'utf8')), { runtimes: { crun: { path: '/usr/bin/crun' }, slaac: { path: wrapper } }, debug: true });
  const un = await cli(['uninstall', '--state-lib', path.join(dir, 'lib')]);
  t.equal(un.code, 0, un.stderr);
  t.equal(fs.readFileSync(containerd, 'utf8'), theirsToml, "containerd's config byte for byte as before");
  t.equal(fs.readFileSync(daemonJson, 'utf8'), theirsJson, 'daemon.json as before');
});

// ---------------------------------------------------------------- lab ins

const CLI = path.join(__dirname, '..', '..', 'dist', 'oci-slaac-hook.js');
const HOOKS_D = '/usr/share/containers/oci/hooks.d';
const OUR_HOOKS = ['oci-slaac-hook-prestart.json', 'oci-slaac-hook-poststop.json'].map((f) => path.join(HOOKS_D, f));
const PATH_ENV = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Our CLI without tap's NODE_OPTIONS; the hook it installs logs to no syslog. */
function cli(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return run('env', ['-u', 'NODE_OPTIONS', process.execPath, CLI, ...args], { env: { OCI_SLAAC_HOOK_SYSLOG: '/nonexistent/ins-syslog.sock', ...env }, timeoutMs: 60_000 });
}

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

t.test("install over files already there, byte for byte (a .deb's hooks.d): kept, not claimed; uninstall leaves them", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ins-kept-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const args = ['--prefix', path.join(dir, 'usr'), '--hooks-dir', path.join(dir, 'hooks.d'), '--config-dir', path.join(dir, 'etc'), '--systemd-dir', path.join(dir, 'systemd')];
  // What an install writes, made by a first one whose record is then forgotten (as a package's files are not in it).
  t.equal((await cli(['install', ...quiet(dir), ...args])).code, 0);
  fs.rmSync(path.join(dir, 'lib'), { recursive: true });
  const hooks = fs.readdirSync(path.join(dir, 'hooks.d')).map((f) => path.join(dir, 'hooks.d', f));
  t.equal(hooks.length, 2, 'the two hooks.d files');
  const before = hooks.map((f) => fs.readFileSync(f, 'utf8'));
  const r = await cli(['install', ...quiet(dir), ...args]);
  t.equal(r.code, 0, r.stderr);
  for (const f of hooks) t.match(r.stdout, new RegExp(`kept\\s+${f.replace(/[.]/g, '\\.')}.*not ours`), `${path.basename(f)}: kept, not ours`);
  const un = await cli(['uninstall', '--state-lib', path.join(dir, 'lib')]);
  t.equal(un.code, 0, un.stderr);
  t.same(hooks.map((f) => fs.readFileSync(f, 'utf8')), before, 'uninstall left them as they were');
});

t.test('install/uninstall in lab ins: the parent found, a podman container with no extra flags gets its address, nothing left after', { skip }, async (t) => {
  t.setTimeout(300_000);
  if (!(await runtimeAvailable('podman'))) return t.fail('podman (with runc and conmon) is not installed');
  if (!fs.existsSync(CLI)) return t.fail(`${CLI} is missing: npm run build:bundle`);
  const taken = OUR_HOOKS.filter((f) => fs.existsSync(f));
  if (taken.length) return t.fail(`${taken.join(', ')} exist already (another installation): not touching podman's hooks.d`);
  /** The directories up to podman's hooks.d that are not there yet: gone again at the end, whatever happens. */
  const absentDirs: string[] = [];
  for (let d = HOOKS_D; !fs.existsSync(d); d = path.dirname(d)) absentDirs.push(d);

  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'ins-'));
  const rootfs = path.join(work, 'rootfs');
  const conf = path.join(work, 'containers.conf');
  const made = new Set<string>();
  /** The one installation of ours at a time: its dirs (temp but for podman's hooks.d). */
  const dirs = (name: string, hooksDir = HOOKS_D): { lib: string; etc: string; args: string[] } => {
    const base = path.join(work, name);
    const lib = path.join(base, 'lib');
    const etc = path.join(base, 'etc');
    return { lib, etc, args: ['--prefix', path.join(base, 'usr'), '--hooks-dir', hooksDir, '--config-dir', etc, '--systemd-dir', path.join(base, 'systemd'), '--state-lib', lib] };
  };
  let labA: Lab | undefined;
  let labB: Lab | undefined;
  const podman = (args: string[]): Promise<RunResult> => run('env', ['-u', 'NODE_OPTIONS', 'podman', ...podmanGlobalArgs(), ...args], { env: { PATH: PATH_ENV, CONTAINERS_CONF: conf }, timeoutMs: 90_000 });
  t.teardown(async () => {
    // Podman's hooks.d must not keep ours, whatever happened above: every installation undone.
    for (const name of made) await podman(['rm', '--force', '--time', '0', name]);
    for (const n of ['main', 'none']) if (fs.existsSync(path.join(work, n, 'lib', 'install.json'))) await cli(['uninstall', '--purge', '--state-lib', path.join(work, n, 'lib')]);
    for (const f of OUR_HOOKS) if (fs.existsSync(f) && fs.readFileSync(f, 'utf8').includes(work)) fs.rmSync(f);
    for (const d of absentDirs) if (fs.existsSync(d) && fs.readdirSync(d).length === 0) fs.rmdirSync(d);
    await labA?.down();
    await labB?.down();
    fs.rmSync(work, { recursive: true, force: true });
  });

  [labA, labB] = await Promise.all([
    labUp({ LAB_NAME: 'ins', LAB_HOST_IF: 'ins0', LAB_PREFIX: '2001:db8:c9::/64', LAB_ROUTER_ADDR: '2001:db8:c9::1', LAB_PEER_ADDR: '2001:db8:c9::100', LAB_RETRANS_MS: '250' }),
    labUp({ LAB_NAME: 'ins2', LAB_HOST_IF: 'ins1', LAB_PREFIX: '2001:db8:ca::/64', LAB_ROUTER_ADDR: '2001:db8:ca::1', LAB_PEER_ADDR: '2001:db8:ca::100' }),
  ]);
  fs.writeFileSync(conf, '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\nnetns = "none"\n');
  await makeRootfs(rootfs);

  /** `podman run -d --rootfs R sleep` — no hooks flag, no network flag: what containers.conf and podman's defaults give. */
  const start = async (name: string): Promise<{ pid: number; links: string; addresses: string }> => {
    made.add(name);
    const r = await run('sh', ['-c', 'exec "$@" </dev/null >/dev/null 2>"$0"', path.join(work, `${name}.err`), 'env', '-u', 'NODE_OPTIONS', 'podman', ...podmanGlobalArgs(), 'run', '-d', '--name', name, '--rootfs', rootfs, '/bin/sleep', '600'], { env: { PATH: PATH_ENV, CONTAINERS_CONF: conf }, timeoutMs: 90_000 });
    if (r.code !== 0) throw new Error(`podman run ${name}: ${fs.readFileSync(path.join(work, `${name}.err`), 'utf8')}`);
    const pid = Number((await podman(['inspect', '--format', '{{.State.Pid}}', name])).stdout.trim());
    const inside = (args: string[]): Promise<string> => run('nsenter', ['-t', String(pid), '-n', 'ip', ...args]).then((x) => x.stdout);
    return { pid, links: await inside(['-d', '-o', 'link', 'show']), addresses: await inside(['-6', '-o', 'addr', 'show', 'scope', 'global']) };
  };
  const remove = async (name: string): Promise<void> => {
    await podman(['rm', '--force', '--time', '0', name]);
    made.delete(name);
  };

  await t.test('two NICs hear a router with an autonomous /64: refused, naming both, nothing written', async (t) => {
    const d = dirs('two', path.join(work, 'two', 'hooks.d'));
    const r = await cli(['install', '--scan', 'ins0,ins1', ...d.args]);
    t.equal(r.code, 2, 'exit 2');
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.match(r.stderr, /^oci-slaac-hook: several NICs hear a router advertising an autonomous \/64: ins0 \(2001:db8:c9::\/64\), ins1 \(2001:db8:ca::\/64\): choose one with --parent IF$/m);
    t.notOk(fs.existsSync(path.join(work, 'two')), 'nothing written');
  });

  if (labB) await stopRadvd(labB);

  await t.test('--parent: a NIC that does not exist is refused; one without a router is taken, with a warning', async (t) => {
    const d = dirs('p', path.join(work, 'p', 'hooks.d'));
    const bad = await cli(['install', '--parent', 'ins9', ...d.args]);
    t.equal(bad.code, 2);
    t.match(bad.stderr, /--parent "ins9": no such interface on this host/);
    t.notOk(fs.existsSync(path.join(work, 'p')), 'nothing written');
    const quietNic = await cli(['install', '--parent', 'ins1', '--ra-timeout', '1500', ...d.args]);
    t.equal(quietNic.code, 0, quietNic.stderr);
    t.match(quietNic.stdout, /^warn +ins1: no router advertisement/m);
    t.match(fs.readFileSync(path.join(d.etc, 'config.toml'), 'utf8'), /^parent = "ins1"/m);
    t.equal((await cli(['uninstall', '--purge', '--state-lib', d.lib])).code, 0);
  });

  await t.test('install --scan ins0,ins1: parent ins0; a container with no extra flags gets its address; again: unchanged; uninstall: nothing of ours left', async (t) => {
    const d = dirs('main');
    // An operator's config.toml already there: install sets the parent in it and keeps the rest.
    fs.mkdirSync(d.etc, { recursive: true });
    const state = path.join(work, 'main', 'state');
    fs.writeFileSync(path.join(d.etc, 'config.toml'), `# mine\nstate_dir = ${JSON.stringify(state)}\n`);
    const hooksDirBefore = fs.existsSync(HOOKS_D);
    const r = await cli(['install', '--scan', 'ins0,ins1', ...d.args]);
    t.equal(r.code, 0, r.stderr);
    t.comment(r.stdout);
    t.match(r.stdout, /^parent +ins0: the one NIC that hears a router advertising an autonomous \/64 \(fe80::\S+: 2001:db8:c9::\/64\)$/m);
    t.match(r.stdout, /^probed +ins1: no router advertisement/m);
    t.equal(fs.readFileSync(path.join(d.etc, 'config.toml'), 'utf8'), `# mine\nparent = "ins0"\nstate_dir = ${JSON.stringify(state)}\n`, 'config.toml: parent added, the rest as it was');
    for (const f of OUR_HOOKS) t.ok(fs.existsSync(f), `${f} installed`);
    const manifest = JSON.parse(fs.readFileSync(path.join(d.lib, 'install.json'), 'utf8')) as { files: { path: string }[]; dirs: string[] };
    const ours = [...manifest.files.map((f) => f.path), path.join(d.lib, 'install.json')];
    t.ok(OUR_HOOKS.every((f) => ours.includes(f)), 'the manifest lists the hooks.d files');

    const c = await start('ins-c1');
    t.match(c.links, /^\d+: eth0@\S+ .* macvlan mode bridge/m, 'eth0 is our macvlan');
    t.match(c.addresses, /inet6 2001:db8:c9:0:[0-9a-f:]+\/64 scope global/, `its global address from the lab's router: ${c.addresses.trim()}`);
    await remove('ins-c1');
    t.same(fs.existsSync(state) ? fs.readdirSync(state).filter((f) => f.endsWith('.json')) : [], [], 'poststop withdrew it: no record left');

    const stat = (f: string): string => {
      const s = fs.statSync(f);
      return `${s.mtimeMs} ${s.size} ${fs.readFileSync(f, 'utf8')}`;
    };
    const before = [...ours, path.join(d.etc, 'config.toml')].map(stat);
    const again = await cli(['install', '--scan', 'ins0,ins1', ...d.args]);
    t.equal(again.code, 0, again.stderr);
    t.notMatch(again.stdout, /^(created|updated) /m, `install again: nothing created or updated\n${again.stdout}`);
    t.match(again.stdout, /^parent +ins0 \(config\.toml names it/m, 'the parent kept: no probe');
    t.same([...ours, path.join(d.etc, 'config.toml')].map(stat), before, 'every file: same bytes, same mtime');

    const un = await cli(['uninstall', '--purge', '--state-lib', d.lib]);
    t.equal(un.code, 0, un.stderr);
    t.comment(un.stdout);
    const left = [...ours, path.join(d.etc, 'config.toml'), ...manifest.dirs].filter((f) => fs.existsSync(f));
    t.same(left, [], `no file of ours left (of ${ours.length + 1} files and ${manifest.dirs.length} dirs)`);
    t.equal(fs.existsSync(HOOKS_D), hooksDirBefore, `podman's hooks.d dir ${hooksDirBefore ? 'still there' : 'gone again (we made it)'}`);

    const after = await start('ins-c2');
    t.notMatch(after.links, /eth0/, `a container starts as before: no interface of ours (${after.links.split('\n').length - 1} link)`);
    t.equal(after.addresses.trim(), '', 'no global address');
    await remove('ins-c2');
  });

  await t.test('no parent found: containers start unaffected, doctor says why', async (t) => {
    const d = dirs('none');
    const r = await cli(['install', '--scan', 'ins1', ...d.args]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /^warn +no parent: none of ins1 hears a router advertising an autonomous \/64/m);
    const config = path.join(d.etc, 'config.toml');
    t.match(fs.readFileSync(config, 'utf8'), /^# parent = "eth0"/m, 'config.toml names no parent');
    for (const f of OUR_HOOKS) t.ok(fs.existsSync(f), `${f} installed`);
    const c = await start('ins-c3');
    t.notMatch(c.links, /eth0/, 'the container started, without an interface of ours');
    await remove('ins-c3');
    const doc = await cli(['doctor', '--config', config], { OCI_SLAAC_HOOK_STATE_LIB: d.lib });
    t.equal(doc.code, 1, 'doctor: exit 1');
    t.match(doc.stdout, /^fail +parent +no parent interface configured.* — fix: set parent/m, 'doctor names the missing parent');
    const un = await cli(['uninstall', '--purge', '--state-lib', d.lib]);
    t.equal(un.code, 0, un.stderr);
    t.same(OUR_HOOKS.filter((f) => fs.existsSync(f)), [], "podman's hooks.d: ours gone");
  });
});
