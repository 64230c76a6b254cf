// A podman pod is one host on the link. `podman pod create`, then two members with `--pod`: the
// infra container gets the address, each member joins the infra's netns (its config.json names
// that path) and shares it — no second interface, no second default route (before: every member
// was refused with `add route default dev N: EEXIST`). Both members bind the pod's address and the
// router reaches each; `podman pod rm -f` leaves no state, no link and no address.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { makeRootfs, podmanGlobalArgs, runtimeAvailable } from '../../vm/lab/containers';
import type { ContainerRecord } from '../../runtime/core/record';

const ROOT = path.join(__dirname, '..', '..');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-pod-'));
const stateDir = path.join(work, 'state');
const libDir = path.join(work, 'lib');
const rootfs = path.join(work, 'rootfs');
const configFile = path.join(work, 'config.toml');
const hooksDir = path.join(work, 'hooks.d');
const POD = 'hpod-web';
const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `OCI_SLAAC_HOOK_STATE_LIB=${libDir}`, `OCI_SLAAC_HOOK_CONFIG=${configFile}`, `OCI_SLAAC_HOOK_SYSLOG=${path.join(work, 'no-syslog.sock')}`];
// The infra container starts with podman's default ulimits, which need CAP_SYS_RESOURCE here.
const containersConf = path.join(work, 'containers.conf');
const env = { ...process.env, CONTAINERS_CONF: containersConf };
const podman = (args: string[], timeoutMs = 60_000) => run('podman', [...podmanGlobalArgs([hooksDir]), ...args], { env, timeoutMs });

let lab: Lab;
let skip: string | false = false;

t.before(async () => {
  if (!(await runtimeAvailable('podman'))) {
    skip = 'podman is not installed';
    return;
  }
  if ((await run('sh', ['-c', 'command -v catatonit'])).code !== 0) throw new Error('catatonit is missing (vm/setup.sh installs it): podman pods need it');
  lab = await labUp({ LAB_NAME: 'hpod', LAB_PREFIX: '2001:db8:d2::/64', LAB_ROUTER_ADDR: '2001:db8:d2::1', LAB_PEER_ADDR: '2001:db8:d2::100' });
  fs.writeFileSync(configFile, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\n`);
  fs.writeFileSync(containersConf, '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n');
  fs.mkdirSync(hooksDir);
  for (const stage of ['prestart', 'poststop']) {
    const shipped = JSON.parse(fs.readFileSync(path.join(ROOT, 'hooks', 'hooks.d', `oci-slaac-hook-${stage}.json`), 'utf8')) as { hook: { path: string; args: string[]; env: string[] } };
    shipped.hook.path = process.execPath;
    shipped.hook.args = shipped.hook.args.map((a) => a.replace('/usr/local/lib/oci-slaac-hook', ROOT));
    shipped.hook.env = HOOK_ENV;
    fs.writeFileSync(path.join(hooksDir, `oci-slaac-hook-${stage}.json`), JSON.stringify(shipped));
  }
  await makeRootfs(rootfs);
});

t.teardown(async () => {
  if (!skip) await podman(['pod', 'rm', '-f', '-t', '0', POD]);
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

const records = (): ContainerRecord[] =>
  fs.existsSync(stateDir) ? fs.readdirSync(stateDir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(fs.readFileSync(path.join(stateDir, f), 'utf8')) as ContainerRecord) : [];
const ours = async () => (await run('ip', ['-o', '-d', 'link', 'show'])).stdout.split('\n').filter((l) => l.includes(`@${lab.hostIf}`)).length;

t.test('a pod and two members: one interface, one address, both members bind it', async (t) => {
  if (skip) return t.pass(`skipped: ${skip}`);
  const create = await podman(['pod', 'create', '--name', POD, '--network', 'none']);
  t.equal(create.code, 0, `pod create: ${create.stderr.trim()}`);
  // The infra container starts with the first member.
  const members = ['hpod-m1', 'hpod-m2'];
  const ports = [8081, 8082];
  // Each member serves on the pod's address, bound explicitly: the address must be there (and
  // shared) before the member's first process runs.
  for (const [i, m] of members.entries()) {
    const r = await podman([
      'run', '-d', '--pod', POD, '--name', m, '--rootfs', rootfs,
      '/bin/sh', '-c', `a=$(ip -6 -o addr show scope global | awk '{print $4}' | cut -d/ -f1); echo "$a" > /tmp/addr; exec httpd -f -p "[$a]:${ports[i]}" -h /`,
    ]);
    t.equal(r.code, 0, `podman run --pod ${m}: ${r.stderr.trim()}`);
  }
  const recs = records();
  const owners = recs.filter((r) => !r.member);
  t.equal(owners.length, 1, 'one attachment: the infra container owns it');
  const owner = owners[0];
  if (!owner) return;
  t.equal(owner.nameSource, 'pod', 'keyed by the pod');
  t.equal(owner.name, POD, "the pod's name (podman gives it as the infra container's hostname)");
  t.same(recs.filter((r) => r.member).map((r) => r.member?.owner), [owner.id, owner.id], 'each member joined it');
  t.equal(owner.addresses.length, 1);
  const address = owner.addresses[0]?.address ?? '';

  // The pod's netns, seen from the first member: our one link, one global address, one default route.
  const inspect = await podman(['inspect', '--format', '{{.State.Pid}}', members[0] ?? '']);
  const pid = inspect.stdout.trim();
  const links = await run('nsenter', ['-t', pid, '-n', 'ip', '-o', '-d', 'link', 'show', 'type', 'macvlan']);
  t.equal(links.stdout.trim().split('\n').length, 1, `one macvlan: ${links.stdout}`);
  const addrs = await run('nsenter', ['-t', pid, '-n', 'ip', '-6', '-o', 'addr', 'show', 'scope', 'global']);
  t.equal(addrs.stdout.trim().split('\n').length, 1, `one global address: ${addrs.stdout}`);
  t.match(addrs.stdout, address);
  const defaults = await run('nsenter', ['-t', pid, '-n', 'ip', '-6', 'route', 'show', 'default']);
  t.equal(defaults.stdout.trim().split('\n').length, 1, `one default route: ${defaults.stdout}`);

  // Both members bound it: the router reaches each on its port.
  for (const port of ports) {
    let code = '';
    for (let i = 0; i < 20 && !/^\d{3}$/.test(code); i++) {
      const r = await run('ip', ['netns', 'exec', lab.routerNetns, 'curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-m', '2', `http://[${address}]:${port}/`]);
      code = r.stdout.trim();
      if (!/^[1-5]\d\d$/.test(code)) await new Promise((res) => setTimeout(res, 200));
    }
    t.match(code, /^[1-5]\d\d$/, `the router reaches [${address}]:${port} (HTTP ${code})`);
  }

  // `check` of a member checks the pod's attachment (its owner's).
  const member = recs.find((r) => r.member);
  const check = await run(process.execPath, [path.join(ROOT, 'dist', 'oci-slaac-hook.js'), 'check', member?.id ?? '', '--config', configFile], { env: { PATH: process.env.PATH ?? '', OCI_SLAAC_HOOK_STATE_LIB: libDir } });
  t.equal(check.code, 0, `check of a member: ${check.stdout.trim()} ${check.stderr.trim()}`);

  // A member's stop leaves the pod's address alone.
  const stop = await podman(['rm', '-f', '-t', '0', members[1] ?? '']);
  t.equal(stop.code, 0);
  const still = await run('nsenter', ['-t', pid, '-n', 'ip', '-6', '-o', 'addr', 'show', 'scope', 'global']);
  t.match(still.stdout, address, "a member's stop keeps the pod's address");
  t.equal(records().filter((r) => r.member).length, 1, "the member's record is gone, the other's stays");

  const rm = await podman(['pod', 'rm', '-f', '-t', '0', POD]);
  t.equal(rm.code, 0, `pod rm -f: ${rm.stderr.trim()}`);
  t.same(records(), [], 'no state left');
  t.equal(await ours(), 0, `no macvlan left on ${lab.hostIf}`);
});
