// hooks/install.sh into a scratch prefix: the command runs from there (addon found beside the
// bundle), the hooks.d files it writes are valid and point at the installed bundle, the runtime
// wrapper is there to run, and DOCKER_DAEMON_JSON registers it beside the runtimes already there.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';

t.test('install.sh', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-install-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { PREFIX: path.join(dir, 'usr'), HOOKS_DIR: path.join(dir, 'hooks.d'), CONFIG_DIR: path.join(dir, 'etc'), SYSTEMD_DIR: path.join(dir, 'systemd') };
  const r = await run('sh', [path.join(__dirname, '..', '..', 'hooks', 'install.sh')], { env });
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
  const install = (): ReturnType<typeof run> => run('sh', [path.join(__dirname, '..', '..', 'hooks', 'install.sh')], { env });
  const r = await install();
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /runtimes\.slaac: added/);
  t.same(JSON.parse(fs.readFileSync(daemonJson, 'utf8')), {
    'log-level': 'warn',
    runtimes: { crun: { path: '/usr/bin/crun' }, slaac: { path: path.join(env.PREFIX, 'bin', 'oci-slaac-runtime') } },
  });
  const again = await install();
  t.equal(again.code, 0, again.stderr);
  t.match(again.stdout, /daemon\.json: nothing to change/);
});

t.test('install.sh with CNI_BIN_DIR: the CNI plugin under its type name answers VERSION', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-install-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const env = { PREFIX: path.join(dir, 'usr'), HOOKS_DIR: path.join(dir, 'hooks.d'), CONFIG_DIR: path.join(dir, 'etc'), SYSTEMD_DIR: path.join(dir, 'systemd'), CNI_BIN_DIR: path.join(dir, 'cni'), CNI_TYPE: 'slaac6' };
  const r = await run('sh', [path.join(__dirname, '..', '..', 'hooks', 'install.sh')], { env });
  t.equal(r.code, 0, r.stderr);
  const plugin = path.join(dir, 'cni', 'slaac6');
  t.match(r.stdout, `CNI plugin: ${plugin}`);
  // Run as a runtime runs it: a bare environment (no PATH to node), CNI_COMMAND, the config on stdin.
  const v = await run(plugin, [], { baseEnv: { CNI_COMMAND: 'VERSION' }, input: '{"cniVersion":"1.0.0"}' });
  t.equal(v.code, 0, v.stderr);
  t.same(JSON.parse(v.stdout), { cniVersion: '1.0.0', supportedVersions: ['1.0.0', '1.1.0'] });
});
