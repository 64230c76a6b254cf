// The hook's own start-up (`npm run bench -- --startup`, part of scripts/bench.ts): no lab, no
// kernel work — what every hook run pays before and after it does anything, as ratios against
// `node -e 0` spawned the same way (same env, state on stdin), interleaved:
//  - poststop of a container with no record (launcher, bundle, the stage's modules, config, a
//    state lookup, exit): the floor of every stage;
//  - createRuntime of a container that opted out (the same, plus the bundle's config.json and one
//    log line);
//  - `--version`: the whole executable (operator commands, agent, doctor, install) loaded.
// Where the time goes: each subject also runs through a copy of hooks/launch.js with marks
// (node's boot until the launcher runs, reading the bundle and its code cache, compiling, running
// to the end, exit), and with a preload that lists the built-in modules it loaded (a hook stage
// loads no node:child_process, node:net, node:dgram, node:tty unless it needs them).
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { median } from '../vm/lab/run';

const ROOT = path.join(__dirname, '..');
const DIST = path.join(ROOT, 'dist');
const CLI = path.join(DIST, 'oci-slaac-hook.js');

export interface StartupOptions {
  iterations: number;
  note(line: string): void;
}

type Subject = 'node' | 'poststop' | 'optedOut' | 'version';
const SUBJECTS: Subject[] = ['node', 'poststop', 'optedOut', 'version'];
const LABELS: Record<Subject, string> = {
  node: 'node -e 0',
  poststop: 'hook poststop, no record',
  optedOut: 'hook createRuntime, opted out',
  version: 'oci-slaac-hook --version',
};
const PHASES = ['boot', 'read', 'compile', 'run', 'exit'] as const;
type Phase = (typeof PHASES)[number];

export interface StartupReport {
  iterations: number;
  /** Median wall time (spawn to exit), ms. */
  wall: Record<Subject, number>;
  ratios: Record<Exclude<Subject, 'node'>, number>;
  /** Median ms per phase (through the marked launcher; `node` has boot and run only). */
  phases: Record<Subject, Record<Phase, number>>;
  /** Built-in modules loaded beyond `node -e 0`'s. */
  builtins: Record<Exclude<Subject, 'node'>, string[]>;
}

// hooks/launch.js with marks: what it does, step by step (keep in step with it).
const MARKED_LAUNCHER = `'use strict';
const t0 = process.hrtime.bigint();
const boot = process.uptime() * 1000;
const fs = require('node:fs'), path = require('node:path'), vm = require('node:vm'), Module = require('node:module');
const file = process.env.BST_MAIN;
// The thin client's turn (launch.js): only where agents serve stages; none does in this bench.
let serve = false;
try { serve = fs.readdirSync('/run/oci-slaac-hook/delegate').length > 0; } catch {}
if (serve) fs.writeSync(2, 'bench: an agent serves hook stages on this host: its thin client is not in these marks\\n');
let cachedData;
try { cachedData = fs.readFileSync(file + '.cache'); } catch { cachedData = undefined; }
const source = fs.readFileSync(file, 'utf8');
const t1 = process.hrtime.bigint();
const script = new vm.Script(Module.wrap(source), { filename: file, cachedData });
const t2 = process.hrtime.bigint();
const ms = (a, b) => Number(b - a) / 1e6;
process.on('exit', () => {
  const t3 = process.hrtime.bigint();
  fs.writeSync(3, JSON.stringify({ boot, read: ms(t0, t1), compile: ms(t1, t2), run: ms(t2, t3), rejected: script.cachedDataRejected === true }) + '\\n');
});
const m = { exports: {}, filename: file };
script.runInThisContext().call(m.exports, m.exports, require, m, file, path.dirname(file));
`;

// Lists the built-in modules loaded after node's own start (on fd 3).
const PRELOAD = `'use strict';
const before = new Set(process.moduleLoadList);
process.on('exit', () => {
  const loaded = process.moduleLoadList.filter((m) => !before.has(m) && m.startsWith('NativeModule ') && !m.includes('internal/')).map((m) => m.slice(13));
  require('node:fs').writeSync(3, JSON.stringify(loaded) + '\\n');
});
`;

interface Spawned {
  wallMs: number;
  code: number | null;
  fd3: string;
  stderr: string;
}

/** Spawn and wait for exit; stdin gets `input`, fd 3 is a pipe collected to the end. */
function spawnTimed(file: string, args: string[], input: string, env: Record<string, string>): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, args, { env, stdio: ['pipe', 'ignore', 'pipe', 'pipe'] });
    let fd3 = '';
    let stderr = '';
    let exitNs = 0n;
    child.stdio[3]?.on('data', (d: Buffer) => (fd3 += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    child.on('error', reject);
    child.on('exit', () => (exitNs = process.hrtime.bigint()));
    child.on('close', (code) => resolve({ wallMs: Number((exitNs || process.hrtime.bigint()) - start) / 1e6, code, fd3, stderr }));
    child.stdin?.end(input);
  });
}

export async function startupBench(o: StartupOptions): Promise<StartupReport> {
  if (!fs.existsSync(CLI)) throw new Error(`${CLI} is not built (npm run build:bundle)`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-bst-'));
  try {
    const state = path.join(work, 'state');
    const bundle = path.join(work, 'bundle');
    fs.mkdirSync(bundle);
    const config = path.join(work, 'config.toml');
    fs.writeFileSync(config, `parent = "lo"\nstate_dir = ${JSON.stringify(state)}\n`);
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', annotations: { 'oci-slaac-hook.enable': 'false' } }));
    const launcher = path.join(work, 'launch-marked.js');
    fs.writeFileSync(launcher, MARKED_LAUNCHER);
    const preload = path.join(work, 'preload.js');
    fs.writeFileSync(preload, PRELOAD);
    // As the lab bench runs the hook: only PATH and our own variables (runc passes only its env).
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', OCI_SLAAC_HOOK_STATE_LIB: path.join(work, 'lib'), OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
    const stdinOf = (s: Subject): string =>
      s === 'optedOut' ? JSON.stringify({ ociVersion: '1.0.2', id: 'bst-create', status: 'creating', pid: process.pid, bundle }) : JSON.stringify({ ociVersion: '1.0.2', id: 'bst-none', status: 'stopped', bundle });
    const argsOf = (s: Subject): string[] => (s === 'node' ? ['-e', '0'] : s === 'version' ? ['--version'] : [s === 'optedOut' ? 'createRuntime' : 'poststop', '--config', config]);

    const walls: Record<Subject, number[]> = { node: [], poststop: [], optedOut: [], version: [] };
    const phases: Record<Subject, Record<Phase, number[]>> = Object.fromEntries(SUBJECTS.map((s) => [s, Object.fromEntries(PHASES.map((p) => [p, [] as number[]]))])) as Record<Subject, Record<Phase, number[]>>;
    const builtins: Partial<Record<Subject, string[]>> = {};
    for (let i = -1; i < o.iterations; i++) {
      for (const s of SUBJECTS) {
        // Timed: exactly as the lab bench spawns the hook.
        const r = await spawnTimed(process.execPath, s === 'node' ? argsOf(s) : [CLI, ...argsOf(s)], stdinOf(s), env);
        if (r.code !== 0) throw new Error(`${LABELS[s]} exited ${r.code}: ${r.stderr.trim().split('\n').pop() ?? ''}`);
        if (i >= 0) walls[s].push(r.wallMs);
        // Marked: the phases of the same run (not timed as a whole: the marks cost a little).
        if (s === 'node') {
          const m = await spawnTimed(process.execPath, ['-e', "require('node:fs').writeSync(3, JSON.stringify({ boot: process.uptime() * 1000 }) + '\\n')"], stdinOf(s), env);
          const boot = (JSON.parse(m.fd3) as { boot: number }).boot;
          if (i >= 0) {
            phases.node.boot.push(boot);
            phases.node.run.push(0);
            phases.node.exit.push(Math.max(0, m.wallMs - boot));
          }
          continue;
        }
        // The bundle launch.js runs: the stage bundle for a stage, when there is one.
        const stageBundle = path.join(DIST, 'oci-slaac-hook.stage.js');
        const bundleFile = s !== 'version' && fs.existsSync(stageBundle) ? stageBundle : path.join(DIST, 'oci-slaac-hook.main.js');
        const m = await spawnTimed(process.execPath, [launcher, ...argsOf(s)], stdinOf(s), { ...env, BST_MAIN: bundleFile });
        const p = JSON.parse(m.fd3) as { boot: number; read: number; compile: number; run: number; rejected: boolean };
        if (p.rejected) throw new Error('the bundle\'s code cache was rejected (built by another node?): rebuild');
        if (i >= 0) {
          phases[s].boot.push(p.boot);
          phases[s].read.push(p.read);
          phases[s].compile.push(p.compile);
          phases[s].run.push(p.run);
          phases[s].exit.push(Math.max(0, m.wallMs - p.boot - p.read - p.compile - p.run));
        }
        if (i === -1) {
          const l = await spawnTimed(process.execPath, ['-r', preload, CLI, ...argsOf(s)], stdinOf(s), env);
          builtins[s] = JSON.parse(l.fd3) as string[];
        }
      }
      if (i >= 0 && (i + 1) % 10 === 0) o.note(`startup: ${i + 1}/${o.iterations}`);
    }
    const med = (xs: number[]): number => (xs.length ? median(xs) : NaN);
    const wall = Object.fromEntries(SUBJECTS.map((s) => [s, med(walls[s])])) as Record<Subject, number>;
    return {
      iterations: o.iterations,
      wall,
      ratios: { poststop: wall.poststop / wall.node, optedOut: wall.optedOut / wall.node, version: wall.version / wall.node },
      phases: Object.fromEntries(SUBJECTS.map((s) => [s, Object.fromEntries(PHASES.map((p) => [p, med(phases[s][p])]))])) as Record<Subject, Record<Phase, number>>,
      builtins: { poststop: builtins.poststop ?? [], optedOut: builtins.optedOut ?? [], version: builtins.version ?? [] },
    };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export function printStartup(r: StartupReport): string {
  const f = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : '—');
  const lines = [`oci-slaac-hook start-up: ${r.iterations} runs each, interleaved, node ${process.version}, ${os.cpus().length} CPUs`, ''];
  lines.push(`${'ms (median)'.padEnd(32)}${'wall'.padStart(8)}${'ratio'.padStart(8)}   ${PHASES.map((p) => p.padStart(8)).join('')}`);
  for (const s of SUBJECTS) {
    const ratio = s === 'node' ? 1 : r.ratios[s];
    lines.push(`${LABELS[s].padEnd(32)}${f(r.wall[s]).padStart(8)}${`${ratio.toFixed(2)}×`.padStart(8)}   ${PHASES.map((p) => f(r.phases[s][p]).padStart(8)).join('')}`);
  }
  lines.push('');
  lines.push('phases (a marked copy of hooks/launch.js): boot = node until the launcher runs; read = the bundle and its');
  lines.push('code cache; compile = with the cache; run = module evaluation and the command to its end; exit = the rest.');
  lines.push('');
  lines.push('built-in modules loaded beyond node -e 0:');
  for (const s of ['poststop', 'optedOut', 'version'] as const) lines.push(`  ${LABELS[s].padEnd(30)}${r.builtins[s].join(' ') || '—'}`);
  return lines.join('\n');
}
