// resolv_conf = "ra" under real runtimes (issue 11 item 7): the container's first process reads
// /etc/resolv.conf and finds the RA's RDNSS and DNSSL — under runc (the rootfs's file, replaced
// atomically) and under podman (its bind mount of userdata/resolv.conf, which podman has already
// bound when the prestart hook runs: written in place, on the inode the container sees).
//
// The lab: LAB_NAME racrt, prefix 2001:db8:c0::/64, the host NIC in the root netns (where
// runtimes run their hooks), RDNSS 2001:db8:c0::53 and DNSSL racrt.example.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { labUp, type Lab } from '../../vm/lab/lab';
import { makeRootfs, runtimeAvailable, startContainer, type ContainerSpec, type HookCommand, type RunningContainer, type RuntimeName } from '../../vm/lab/containers';
import type { ContainerRecord } from '../../runtime/core/record';

const ROOT = path.join(__dirname, '..', '..');
const CLI = path.join(ROOT, 'dist', 'oci-slaac-hook.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-racrt-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
const configFile = path.join(work, 'config.toml');
const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `OCI_SLAAC_HOOK_STATE_LIB=${libDir}`, `OCI_SLAAC_HOOK_CONFIG=${configFile}`, `OCI_SLAAC_HOOK_SYSLOG=${path.join(work, 'no-syslog.sock')}`];
const RDNSS = '2001:db8:c0::53';
const DNSSL = 'racrt.example';
const READ_RESOLV = ['/bin/sh', '-c', 'cat /etc/resolv.conf > /out/r.tmp; mv /out/r.tmp /out/resolv.conf; exec sleep 600'];

let lab: Lab;
t.before(async () => {
  lab = await labUp({ LAB_NAME: 'racrt', LAB_PREFIX: '2001:db8:c0::/64', LAB_ROUTER_ADDR: '2001:db8:c0::1', LAB_PEER_ADDR: '2001:db8:c0::100', LAB_RETRANS_MS: '200', LAB_RDNSS: RDNSS, LAB_DNSSL: DNSSL });
  fs.mkdirSync(libDir, { mode: 0o700 });
  fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0x3c), { mode: 0o600 });
  fs.writeFileSync(configFile, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\nresolv_conf = "ra"\ndad = "optimistic"\n`);
});
t.teardown(async () => {
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const hookCommand = (stage: string): HookCommand => ({ path: process.execPath, args: ['node', CLI, stage], env: HOOK_ENV, timeout: 30 });

function podmanHooksDir(): string {
  const dir = path.join(work, 'hooks.d');
  fs.mkdirSync(dir, { recursive: true });
  for (const stage of ['prestart', 'poststop']) {
    const shipped = JSON.parse(fs.readFileSync(path.join(ROOT, 'hooks', 'hooks.d', `oci-slaac-hook-${stage}.json`), 'utf8')) as { hook: { path: string; args: string[]; env: string[] } };
    shipped.hook.path = process.execPath;
    shipped.hook.args = shipped.hook.args.map((a) => a.replace('/usr/local/lib/oci-slaac-hook', ROOT));
    shipped.hook.env = HOOK_ENV;
    fs.writeFileSync(path.join(dir, `oci-slaac-hook-${stage}.json`), JSON.stringify(shipped));
  }
  return dir;
}

async function waitFor(file: string, ms = 10000): Promise<string | undefined> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (fs.existsSync(file)) return fs.readFileSync(file, 'utf8');
    await new Promise((r) => setTimeout(r, 50));
  }
  return undefined;
}

const recordOf = (pred: (r: ContainerRecord) => boolean): ContainerRecord | undefined =>
  fs.existsSync(stateDir) ? fs.readdirSync(stateDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(stateDir, f), 'utf8')) as ContainerRecord).find(pred) : undefined;

for (const runtime of ['runc', 'podman'] as RuntimeName[]) {
  t.test(`${runtime}: the container's first process reads the RA's resolver`, async (t) => {
    if (!(await runtimeAvailable(runtime))) {
      t.comment(`${runtime} not available: skipped`);
      return;
    }
    const rootfs = path.join(work, `rootfs-${runtime}`);
    await makeRootfs(rootfs);
    fs.mkdirSync(path.join(rootfs, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(rootfs, 'etc', 'resolv.conf'), 'nameserver 192.0.2.1\n');
    const out = path.join(work, `out-${runtime}`);
    fs.mkdirSync(out);
    const id = `racrt-${runtime}`;
    const spec: ContainerSpec = {
      id,
      rootfs,
      args: READ_RESOLV,
      outDir: out,
      // podman's default network: podman then bind-mounts its userdata/resolv.conf onto /etc/resolv.conf.
      ...(runtime === 'podman' ? { hooksDir: podmanHooksDir(), network: 'bridge' as const } : { hooks: { createRuntime: [hookCommand('createRuntime')], poststop: [hookCommand('poststop')] } }),
    };
    const r = await startContainer(runtime, spec);
    let c: RunningContainer | undefined = r.container;
    t.teardown(async () => void (await c?.stop()));
    t.equal(r.code, 0, r.stderr);
    const seen = await waitFor(path.join(out, 'resolv.conf'));
    t.match(seen, new RegExp(`^nameserver ${RDNSS}$`, 'm'), `the container saw the RA's server:\n${seen}`);
    t.match(seen, new RegExp(`^search ${DNSSL.replace('.', '\\.')}$`, 'm'), 'and its search list');
    t.notMatch(seen, /192\.0\.2\.1/, 'not the old one');
    const rec = recordOf((x) => x.phase === 'attached' && (runtime === 'podman' ? x.name === id : x.id === id));
    t.ok(rec?.resolvConf, `recorded: ${rec?.resolvConf}`);
    if (runtime === 'podman') t.notMatch(rec?.resolvConf ?? '', new RegExp(`^${rootfs}`), "podman: its bind mount's source, not the rootfs's file");
    else t.equal(rec?.resolvConf, path.join(fs.realpathSync(rootfs), 'etc', 'resolv.conf'), 'runc: the rootfs file');
    await c?.stop();
    c = undefined;
  });
}
