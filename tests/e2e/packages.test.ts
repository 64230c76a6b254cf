// The two packages (issue 16, item 4), built from this checkout's build, in lab `pkg`
// (2001:db8:cc::/64):
// - the npm tarball (`npm pack`): installed with `npm install -g` into a clean prefix, offline,
//   with a PATH that has node, npm and sh and no compiler, make or python: the prebuilt addon is
//   used and the installed `oci-slaac-hook ra` hears the lab's router; without the prebuild, the
//   install step builds the addon from the shipped C source instead;
// - the .deb (scripts/package-deb.sh): no lintian error; `dpkg -i`; a podman container started
//   with no flag of ours gets its address through the installed hooks.d files, bundle and addon;
//   `dpkg -r` leaves a running container's address alone and removes every file but the conffile,
//   `dpkg --purge` the rest. The package is purged and the host's secret put back whatever happens.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { run, type RunResult } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { makeRootfs, startContainer, type RunningContainer } from '../../vm/lab/containers';
import { installProbe, seen } from '../../vm/lab/probe';

t.setTimeout(300_000);

const ROOT = path.join(__dirname, '..', '..');
const PKG = 'oci-slaac-hook';
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const work = fs.mkdtempSync('/tmp/pkg-');
const rootfs = path.join(work, 'rootfs');
const stateDir = path.join(work, 'state');
const CONFIG = `/etc/${PKG}/config.toml`;
const STATE_LIB = `/var/lib/${PKG}`;
// Our bundles run without tap's loaders.
const NO_TAP = { NODE_OPTIONS: undefined };

let lab: Lab;
/** /var/lib/oci-slaac-hook as it was (the host's secret): the purge deletes it; put back after. */
let stateLibBackup: { name: string; data: Buffer; mode: number }[] | undefined;
const containers: RunningContainer[] = [];

const installed = async (): Promise<string> => (await run('dpkg-query', ['-W', '-f', '${db:Status-Abbrev}', PKG])).stdout.trim();
const purge = (): Promise<RunResult> => run('dpkg', ['--purge', PKG], { timeoutMs: 120_000 });
/** A failed command's output for the assertion's message; nothing when it worked. */
const why = (r: RunResult): string => (r.code === 0 ? '' : `: ${(r.stderr + r.stdout).slice(-800)}`);
/** What deb-systemd-helper makes (no systemd runs here, but it enables, masks and forgets all the same). */
const UNIT_LINKS = ['/etc/systemd/system/multi-user.target.wants/oci-slaac-hook-agent.service', '/etc/systemd/system/oci-slaac-hook-agent.service'];

t.before(async () => {
  lab = await labUp({ LAB_NAME: 'pkg', LAB_PREFIX: '2001:db8:cc::/64', LAB_ROUTER_ADDR: '2001:db8:cc::1', LAB_PEER_ADDR: '2001:db8:cc::100' });
  await makeRootfs(rootfs);
  installProbe(rootfs);
  if (fs.existsSync(STATE_LIB)) {
    stateLibBackup = fs.readdirSync(STATE_LIB, { withFileTypes: true }).filter((e) => e.isFile()).map((e) => {
      const file = path.join(STATE_LIB, e.name);
      return { name: e.name, data: fs.readFileSync(file), mode: fs.statSync(file).mode & 0o7777 };
    });
  }
  if ((await installed()) !== '') await purge();
});
t.teardown(async () => {
  for (const c of containers) await c.stop().catch(() => undefined);
  if ((await installed()) !== '') await purge();
  if (stateLibBackup) {
    fs.mkdirSync(STATE_LIB, { recursive: true, mode: 0o700 });
    for (const f of stateLibBackup) {
      fs.writeFileSync(path.join(STATE_LIB, f.name), f.data, { mode: f.mode });
      fs.chmodSync(path.join(STATE_LIB, f.name), f.mode);
    }
  }
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

t.test('npm tarball: installs with no compiler on PATH, and its `ra` hears the lab router', async (t) => {
  const packed = await run('npm', ['pack', '--pack-destination', work], { cwd: ROOT, env: NO_TAP, timeoutMs: 60_000 });
  t.equal(packed.code, 0, `npm pack${why(packed)}`);
  t.notOk(fs.existsSync(path.join(ROOT, 'prebuilds')), 'postpack took prebuilds/ out of the checkout again');
  const tgz = path.join(work, `${PKG}-${VERSION}.tgz`);
  const list = (await run('tar', ['-tzf', tgz])).stdout.split('\n').map((l) => l.replace(/^package\//, ''));
  for (const f of [
    'prebuilds/linux-x64/osh_native.node',
    'binding.gyp',
    'runtime/native/addon.c',
    'scripts/install-addon.js',
    'dist/oci-slaac-hook.js',
    'dist/oci-slaac-hook.main.js',
    'dist/oci-slaac-hook.main.js.cache',
    'dist/oci-slaac-hook.stage.js',
    'dist/oci-slaac-hook.stage.js.cache',
    'dist/oci-slaac-hook.delegate.js',
    'dist/oci-slaac-hook.delegate.js.cache',
    'dist/oci-slaac-runtime.main.js',
    'dist/oci-slaac-cni.main.js',
    'dist/man/oci-slaac-hook.8',
    'dist/man/oci-slaac-hook.toml.5',
    'hooks/hooks.d/oci-slaac-hook-prestart.json',
    'hooks/oci-slaac-hook-agent.service',
    'hooks/cni/slaac-podman.conflist',
  ]) {
    t.ok(list.includes(f), `the tarball has ${f}`);
  }
  t.notOk(list.some((f) => /^(tests|vm)\/|\.ts$|^dist\/(bench|demo|fuzz|man)\.js$|^build\//.test(f)), 'no sources, tests, lab tools or local build');

  // A PATH with node, npm and the shell npm runs its scripts with, nothing else.
  const bin = path.join(work, 'bin');
  fs.mkdirSync(bin);
  const npm = (await run('sh', ['-c', 'command -v npm'])).stdout.trim();
  for (const [name, target] of [['node', process.execPath], ['npm', npm], ['sh', '/bin/sh']] as const) fs.symlinkSync(target, path.join(bin, name));
  const bare = { PATH: bin, HOME: path.join(work, 'home') };
  const tools = await run('sh', ['-c', 'for c in cc gcc c++ make python3 python node-gyp; do command -v $c; done; true'], { baseEnv: bare });
  t.equal(tools.stdout.trim(), '', 'no compiler, make, python or node-gyp on that PATH');

  const prefix = path.join(work, 'prefix');
  const t0 = Date.now();
  const inst = await run('npm', ['install', '-g', tgz, '--prefix', prefix, '--offline', '--no-audit', '--no-fund', '--foreground-scripts', '--cache', path.join(work, 'npm-cache')], { baseEnv: bare, timeoutMs: 120_000 });
  t.equal(inst.code, 0, `npm install -g${why(inst)}`);
  t.comment(`npm install -g (offline, no compiler): ${Date.now() - t0} ms`);
  t.match(inst.stdout, /prebuilt addon prebuilds\/linux-x64\/osh_native\.node loads here: nothing to build/, 'the install step used the prebuild');
  const pkgDir = path.join(prefix, 'lib', 'node_modules', PKG);
  t.notOk(fs.existsSync(path.join(pkgDir, 'build')), 'nothing was built');
  for (const name of ['oci-slaac-hook', 'oci-slaac-runtime', 'oci-slaac-cni']) t.ok(fs.existsSync(path.join(prefix, 'bin', name)), `bin/${name}`);

  const version = await run(path.join(prefix, 'bin', PKG), ['--version'], { baseEnv: bare });
  t.equal(version.stdout.trim(), `${PKG} ${VERSION}`, '--version');
  const ra = await run(path.join(prefix, 'bin', PKG), ['ra', '--interface', lab.hostIf, '--timeout', '5000'], { baseEnv: bare, timeoutMs: 30_000 });
  t.equal(ra.code, 0, `ra${why(ra)}`);
  t.match(ra.stdout, /2001:db8:cc::\/64/, 'the installed `ra` shows the lab prefix (the prebuilt addon opened the ND socket)');
  t.comment(ra.stdout.trim());

  // Where no prebuild fits, the install step builds the addon from the shipped source (with a compiler).
  const copy = path.join(work, 'from-source');
  fs.cpSync(pkgDir, copy, { recursive: true });
  fs.rmSync(path.join(copy, 'prebuilds'), { recursive: true });
  const built = await run('npm', ['run', 'install', '--foreground-scripts'], { cwd: copy, env: { ...NO_TAP, npm_config_nodedir: undefined }, timeoutMs: 180_000 });
  t.equal(built.code, 0, `install step without a prebuild${why(built)}`);
  t.ok(fs.existsSync(path.join(copy, 'build', 'Release', 'osh_native.node')), 'built build/Release/osh_native.node from runtime/native/addon.c');
  const ra2 = await run(process.execPath, [path.join(copy, 'dist', 'oci-slaac-hook.js'), 'ra', '--interface', lab.hostIf, '--json'], { env: NO_TAP, timeoutMs: 30_000 });
  t.equal(ra2.code, 0, `ra with the addon built from source${why(ra2)}`);
  t.match(ra2.stdout, /2001:db8:cc::/, 'and it works');
});

t.test('.deb: lintian clean of errors; installed, a podman container gets its address; removed, then purged', async (t) => {
  const built = await run('sh', [path.join(ROOT, 'scripts', 'package-deb.sh'), work], { cwd: ROOT, env: NO_TAP, timeoutMs: 120_000 });
  t.equal(built.code, 0, `package-deb.sh${why(built)}`);
  const deb = built.stdout.trim().split('\n').pop() ?? '';
  t.match(path.basename(deb), new RegExp(`^${PKG}_${VERSION.replace(/\./g, '\\.')}-1_amd64\\.deb$`), `written: ${deb}`);

  const lint = await run('lintian', ['--pedantic', deb], { timeoutMs: 120_000 });
  const tags = lint.stdout.split('\n').filter((l) => /^[EWIPX]: /.test(l));
  t.comment(`lintian --pedantic: ${tags.length} tag(s)${tags.length ? `\n${tags.join('\n')}` : ''}`);
  t.equal(lint.code, 0, `lintian exits 0${why(lint)}`);
  t.same(tags.filter((l) => l.startsWith('E: ')), [], 'no lintian error');
  t.same(tags.filter((l) => l.startsWith('W: ')), [], 'no lintian warning either (two overridden, with reasons)');

  const i = await run('dpkg', ['-i', deb], { timeoutMs: 120_000 });
  t.equal(i.code, 0, `dpkg -i${why(i)}`);
  t.equal(await installed(), 'ii', 'installed');
  t.ok(fs.lstatSync(UNIT_LINKS[0] ?? '', { throwIfNoEntry: false })?.isSymbolicLink(), 'the agent\'s unit enabled (started too where systemd runs)');
  const files = (await run('dpkg', ['-L', PKG])).stdout.split('\n').filter((f) => f && fs.statSync(f, { throwIfNoEntry: false })?.isDirectory() === false);
  t.ok(files.length >= 20, `${files.length} files`);
  const shipped = fs.readFileSync(CONFIG, 'utf8');
  t.match(shipped, /^# parent = /m, 'the default config names no parent');
  for (const stage of ['prestart', 'poststop']) {
    const hook = JSON.parse(fs.readFileSync(`/usr/share/containers/oci/hooks.d/${PKG}-${stage}.json`, 'utf8')) as { hook: { path: string; args: string[] } };
    t.same([hook.hook.path, ...hook.hook.args], ['/usr/bin/node', 'node', `/usr/lib/${PKG}/dist/${PKG}.js`, stage], `hooks.d ${stage}: /usr/bin/node and the installed bundle`);
  }
  t.equal((await run(`/usr/bin/${PKG}`, ['--version'], { env: NO_TAP })).stdout.trim(), `${PKG} ${VERSION}`, `/usr/bin/${PKG} --version`);

  // Installed but not configured: a container starts untouched.
  const start = async (id: string): Promise<{ c: RunningContainer; out: string }> => {
    const out = path.join(work, 'out', id);
    fs.mkdirSync(out, { recursive: true });
    // No --hooks-dir: podman reads /usr/share/containers/oci/hooks.d by itself.
    const r = await startContainer('podman', { id, rootfs, args: ['/bin/sh', '/probe.sh'], outDir: out });
    if (r.code !== 0 || !r.container) throw new Error(`podman ${id}: ${r.stderr}`);
    containers.push(r.container);
    return { c: r.container, out };
  };
  const plain = await start('pkg-plain');
  const p = await seen(plain.out);
  t.equal(p.address, '', 'no parent configured: the container starts, with no address of ours');
  await plain.c.stop();

  // Configured (the conffile edited as an operator would): the address comes through the installed files.
  fs.writeFileSync(CONFIG, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\nra_timeout_ms = 5000\n`);
  const one = await start('pkg-one');
  const s = await seen(one.out);
  t.match(s.address, /^2001:db8:cc:0:/, `the container's address from the lab prefix (${s.address})`);
  t.equal(s.tentative, false, 'usable at its first process');
  const ping = (a: string): Promise<RunResult> => run('ip', ['netns', 'exec', lab.routerNetns, 'ping', '-6', '-c', '1', '-W', '2', a]);
  t.equal((await ping(s.address)).code, 0, 'the router reaches it');
  await one.c.stop();
  t.not((await ping(s.address)).code, 0, 'stopped: the poststop hook took it away');

  // Removal with a container running: its address stays; every file but the conffile goes.
  const running = await start('pkg-running');
  const r = await seen(running.out);
  t.match(r.address, /^2001:db8:cc:0:/, 'a second container, running');
  fs.writeFileSync(CONFIG, shipped);
  const rm = await run('dpkg', ['-r', PKG], { timeoutMs: 120_000 });
  t.equal(rm.code, 0, `dpkg -r${why(rm)}`);
  t.equal((await ping(r.address)).code, 0, 'dpkg -r: the running container keeps its address');
  t.same(files.filter((f) => f !== CONFIG && fs.existsSync(f)), [], 'dpkg -r: none of the package\'s files remain');
  t.ok(fs.existsSync(CONFIG), 'the conffile stays until purge');
  t.equal(fs.readlinkSync(UNIT_LINKS[1] ?? ''), '/dev/null', 'the unit masked, as dh_installsystemd does on removal');
  await running.c.stop();

  const pg = await purge();
  t.equal(pg.code, 0, `dpkg --purge${why(pg)}`);
  t.equal(await installed(), '', 'purged: dpkg knows nothing of it');
  t.same(files.filter((f) => fs.existsSync(f)), [], 'dpkg --purge: no file of the package remains');
  for (const dir of [`/etc/${PKG}`, STATE_LIB, `/usr/lib/${PKG}`, `/usr/share/doc/${PKG}`]) t.notOk(fs.existsSync(dir), `${dir} gone`);
  t.same(UNIT_LINKS.filter((l) => fs.lstatSync(l, { throwIfNoEntry: false })), [], 'the unit\'s enablement and mask forgotten');
});
