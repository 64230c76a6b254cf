// hooks/install.sh into a scratch prefix: the command runs from there (addon found beside the
// bundle), and the hooks.d files it writes are valid and point at the installed bundle.
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
  // The agent's unit: Type=simple, restarted on failure, the installed bundle's `agent` with this config.
  const unit = fs.readFileSync(path.join(env.SYSTEMD_DIR, 'oci-slaac-hook-agent.service'), 'utf8');
  t.match(unit, /^Type=simple$/m);
  t.match(unit, /^Restart=on-failure$/m);
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(' ') ?? [];
  t.same(exec.slice(1), [path.join(env.PREFIX, 'lib', 'oci-slaac-hook', 'dist', 'oci-slaac-hook.js'), 'agent', '--config', path.join(env.CONFIG_DIR, 'config.toml')]);
  t.ok(exec[0] && fs.existsSync(exec[0]), `node at ${exec[0]}`);
});
