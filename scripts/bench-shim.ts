// The runtime wrapper's cost (`npm run bench -- --shim`, part of scripts/bench.ts), in one run
// with its peers, as ratios:
//  - `docker run --rm --network none IMAGE true` with `--runtime slaac` (our wrapper, then runc,
//    our hook attaching: address, DAD, routes) against `--runtime runc`, on a private dockerd
//    (vm/lab/docker.ts) in a netns lab (`bsh`), interleaved; the hook with optimistic DAD and
//    with strict (its RFC 4862 DAD is one RetransTimer, 1 s, of the difference).
//  - a pass-through command (`state ID` of a created container): `oci-slaac-runtime` against runc
//    directly, and `node -e 0` (node's own start, the floor of any node program) beside them.
// Everything it makes (lab, dockerd, runc state) is removed at the end.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { labUp } from '../vm/lab/lab';
import { makeRootfs } from '../vm/lab/containers';
import { dockerImport, startDockerd } from '../vm/lab/docker';
import { median, run, succeeded, type RunResult } from '../vm/lab/run';

const ROOT = path.join(__dirname, '..');
const SHIM = path.join(ROOT, 'dist', 'oci-slaac-runtime.js');

export interface ShimBenchOptions {
  iterations: number;
  note(line: string): void;
}

export interface ShimReport {
  iterations: number;
  dockerRun: { runc: number; slaacOptimistic: number; slaacStrict: number };
  passThrough: { runc: number; shim: number; nodeBaseline: number };
}

const ms = (r: RunResult): number => Number(r.exitNs - r.startNs) / 1e6;

export async function shimBench(o: ShimBenchOptions): Promise<ShimReport> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-bsh-'));
  const lab = await labUp({ LAB_NAME: 'bsh', LAB_PREFIX: '2001:db8:d8::/64', LAB_ROUTER_ADDR: '2001:db8:d8::1', LAB_PEER_ADDR: '2001:db8:d8::100' });
  const configs = { optimistic: path.join(work, 'optimistic.toml'), strict: path.join(work, 'strict.toml') };
  for (const [dad, file] of Object.entries(configs)) fs.writeFileSync(file, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(path.join(work, 'state'))}\ndad = "${dad}"\n`);
  const hookEnv = { OCI_SLAAC_HOOK_STATE_LIB: path.join(work, 'lib'), OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
  // Two runtime names for one wrapper, told apart by the config each names.
  const wrappers: Record<string, string> = {};
  for (const [dad, file] of Object.entries(configs)) {
    const w = path.join(work, `slaac-${dad}`);
    fs.writeFileSync(w, `#!/bin/sh\nexec ${JSON.stringify(SHIM)} --slaac-config ${JSON.stringify(file)} "$@"\n`, { mode: 0o755 });
    wrappers[`slaac-${dad}`] = w;
  }
  const dockerd = await startDockerd({ name: 'bsh', runtimes: wrappers, env: { ...hookEnv, NODE_OPTIONS: undefined } });
  const runcRoot = path.join(work, 'runc-root');
  try {
    o.note(`dockerd up in ${dockerd.startMs.toFixed(0)} ms; importing the image…`);
    const rootfs = path.join(work, 'rootfs');
    await makeRootfs(rootfs);
    const image = await dockerImport(dockerd, rootfs, 'osh-bsh:latest');
    const dockerRun = (runtime: string) => dockerd.docker(['run', '--rm', '--runtime', runtime, '--network', 'none', image, 'true'], 120_000);
    const series = { runc: [] as number[], slaacOptimistic: [] as number[], slaacStrict: [] as number[] };
    // One warm-up round, then interleaved rounds.
    for (let i = -1; i < o.iterations; i++) {
      const a = ms(succeeded('docker run --runtime runc', await dockerRun('runc')));
      const b = ms(succeeded('docker run --runtime slaac (optimistic)', await dockerRun('slaac-optimistic')));
      const c = ms(succeeded('docker run --runtime slaac (strict)', await dockerRun('slaac-strict')));
      if (i < 0) continue;
      series.runc.push(a);
      series.slaacOptimistic.push(b);
      series.slaacStrict.push(c);
    }
    o.note('docker run: done; pass-through (state)…');
    // A created (never started) container for `state`.
    const bundle = path.join(work, 'bundle');
    fs.mkdirSync(bundle);
    succeeded('runc spec', await run('runc', ['spec', '--bundle', bundle]));
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { root: { path: string }; process: { args: string[]; terminal: boolean; rlimits?: unknown } };
    spec.root.path = rootfs;
    spec.process.args = ['sleep', '600'];
    spec.process.terminal = false;
    delete spec.process.rlimits;
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));
    // No pipes at all: the created container's init holds whatever stdio it is given.
    const created = spawnSync('runc', ['--root', runcRoot, 'create', '--bundle', bundle, 'bsh-state'], { stdio: 'ignore', timeout: 30_000 });
    if (created.status !== 0) throw new Error(`runc create failed (${created.status ?? created.signal})`);
    o.note('created; state series…');
    const pass = { runc: [] as number[], shim: [] as number[], nodeBaseline: [] as number[] };
    const env = { ...hookEnv, OCI_SLAAC_HOOK_CONFIG: configs.optimistic, NODE_OPTIONS: undefined };
    for (let i = -1; i < o.iterations * 3; i++) {
      const a = ms(succeeded('runc state', await run('runc', ['--root', runcRoot, 'state', 'bsh-state'], { env })));
      const b = ms(succeeded('oci-slaac-runtime state', await run(SHIM, ['--root', runcRoot, 'state', 'bsh-state'], { env })));
      const c = ms(succeeded('node -e 0', await run(process.execPath, ['-e', '0'], { env })));
      if (i < 0) continue;
      pass.runc.push(a);
      pass.shim.push(b);
      pass.nodeBaseline.push(c);
    }
    return {
      iterations: o.iterations,
      dockerRun: { runc: median(series.runc), slaacOptimistic: median(series.slaacOptimistic), slaacStrict: median(series.slaacStrict) },
      passThrough: { runc: median(pass.runc), shim: median(pass.shim), nodeBaseline: median(pass.nodeBaseline) },
    };
  } finally {
    await run('runc', ['--root', runcRoot, 'delete', '--force', 'bsh-state']);
    await dockerd.destroy();
    await lab.down();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function printShim(r: ShimReport): string {
  const f = (x: number): string => `${x.toFixed(1)} ms`;
  const d = r.dockerRun;
  const p = r.passThrough;
  return [
    `runtime wrapper (medians of ${r.iterations} interleaved rounds; state: ${r.iterations * 3})`,
    `  docker run --rm --network none IMAGE true`,
    `    --runtime runc                    ${f(d.runc)}`,
    `    --runtime slaac, optimistic DAD   ${f(d.slaacOptimistic)}   ${(d.slaacOptimistic / d.runc).toFixed(2)}x runc`,
    `    --runtime slaac, strict DAD       ${f(d.slaacStrict)}   ${(d.slaacStrict / d.runc).toFixed(2)}x runc (DAD: one RetransTimer, 1 s)`,
    `  pass-through: state ID`,
    `    runc directly                     ${f(p.runc)}`,
    `    oci-slaac-runtime -> runc         ${f(p.shim)}   ${(p.shim / p.runc).toFixed(2)}x runc, +${(p.shim - p.runc).toFixed(1)} ms`,
    `    node -e 0 (node's own start)      ${f(p.nodeBaseline)}   the wrapper costs ${((p.shim - p.runc) / p.nodeBaseline).toFixed(2)}x a bare node start`,
  ].join('\n');
}
