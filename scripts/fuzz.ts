// The fuzz harness (`npm run fuzz`): every parser of untrusted input (scripts/fuzz-targets.ts) with
// 100k cases each by default, seeded and replayable. Each target runs in a worker thread watched
// by this one: a case that does not return within --hang-ms (a hang, which a synchronous parser
// cannot report itself) terminates the worker and is a finding, named by its case index.
//
// Bundled to dist/fuzz.js (package.json "fuzz"); usage:
//   node dist/fuzz.js [--seed N] [--cases N] [--target NAME]... [--max-seconds S] [--case-ms MS]
//                     [--hang-ms MS] [--case I] [--json]
// Exit: 0 no findings; 1 findings (listed, each with its replay command); 2 bad usage.
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { describe, inputOf, runTarget, TARGETS, type Finding, type RunOptions, type TargetReport } from './fuzz-targets';

interface WorkerJob {
  target: string;
  opts: Omit<RunOptions, 'onCase'>;
  heartbeat: SharedArrayBuffer;
}

const USAGE = 'usage: node dist/fuzz.js [--seed N] [--cases N] [--target NAME]... [--max-seconds S] [--case-ms MS] [--hang-ms MS] [--case I] [--json]';

function worker(): void {
  const job = workerData as WorkerJob;
  const target = TARGETS.find((t) => t.name === job.target);
  if (!target) throw new Error(`no target ${job.target}`);
  const beat = new Int32Array(job.heartbeat);
  // A gc() for the heap figures before and after (a worker takes no --expose-gc).
  setFlagsFromString('--expose-gc');
  (globalThis as { gc?: unknown }).gc = runInNewContext('gc');
  const report = runTarget(target, {
    ...job.opts,
    onCase: (i) => {
      Atomics.store(beat, 0, i);
      Atomics.add(beat, 1, 1);
    },
  });
  parentPort?.postMessage(report);
}

/** One target in a worker; a case that outlasts hangMs ends it with a 'hang' finding. */
function runInWorker(target: string, opts: Omit<RunOptions, 'onCase'>, hangMs: number): Promise<TargetReport> {
  const heartbeat = new SharedArrayBuffer(8);
  const beat = new Int32Array(heartbeat);
  const w = new Worker(__filename, { workerData: { target, opts, heartbeat } satisfies WorkerJob, resourceLimits: { maxOldGenerationSizeMb: 1024 } });
  const start = performance.now();
  return new Promise((resolve) => {
    let lastCount = -1;
    let lastChange = performance.now();
    const hung = (kind: string, error: string): void => {
      clearInterval(watch);
      const index = Atomics.load(beat, 0);
      const t = TARGETS.find((x) => x.name === target);
      const input = t ? inputOf(t, opts.seed, index).input : Buffer.alloc(0);
      const finding: Finding = { target, seed: opts.seed, case: index, kind: 'throw', error: `${kind}: ${error}`, input: input.subarray(0, 256).toString('hex'), inputBytes: input.length, ms: Math.round(performance.now() - lastChange) };
      resolve({ target, cases: index, refused: 0, ms: Math.round(performance.now() - start), slowestCaseMs: finding.ms, findings: [finding], heapBeforeMb: 0, heapAfterMb: 0, maxRssMb: 0, stoppedEarly: true });
    };
    const watch = setInterval(() => {
      const count = Atomics.load(beat, 1);
      if (count !== lastCount) {
        lastCount = count;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > hangMs) {
        hung('hang', `case did not return within ${hangMs} ms`);
        void w.terminate();
      }
    }, Math.min(250, hangMs / 4));
    w.on('message', (report: TargetReport) => {
      clearInterval(watch);
      resolve(report);
    });
    w.on('error', (err) => hung('worker died', describe(err)));
  });
}

async function main(): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seed: { type: 'string' },
        cases: { type: 'string' },
        target: { type: 'string', multiple: true },
        'max-seconds': { type: 'string' },
        'case-ms': { type: 'string' },
        'hang-ms': { type: 'string' },
        case: { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`fuzz: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const num = (v: string | undefined, fallback: number): number => (v === undefined ? fallback : /^\d+$/.test(v) ? Number(v) : NaN);
  const seed = num(values.seed, Date.now() % 0x7fffffff);
  const opts = { seed, cases: num(values.cases, 100_000), maxMs: num(values['max-seconds'], 600) * 1000, caseMs: num(values['case-ms'], 250), only: values.case === undefined ? undefined : num(values.case, NaN) };
  const hangMs = num(values['hang-ms'], 5000);
  const names = values.target ?? TARGETS.map((t) => t.name);
  const unknown = names.filter((n) => !TARGETS.some((t) => t.name === n));
  if ([opts.seed, opts.cases, opts.maxMs, opts.caseMs, hangMs, opts.only ?? 0].some((n) => !Number.isFinite(n)) || unknown.length) {
    process.stderr.write(`fuzz: ${unknown.length ? `unknown target ${unknown.join(', ')} (targets: ${TARGETS.map((t) => t.name).join(', ')})` : 'numbers must be non-negative integers'}\n${USAGE}\n`);
    return 2;
  }
  process.stderr.write(`fuzz: seed ${seed} (replay with --seed ${seed}), ${opts.only !== undefined ? `case ${opts.only}` : `${opts.cases} cases`} per target: ${names.join(', ')}\n`);
  const reports: TargetReport[] = [];
  for (const name of names) {
    const report = await runInWorker(name, opts, hangMs);
    reports.push(report);
    if (!values.json) {
      process.stdout.write(
        `${name.padEnd(12)} ${String(report.cases).padStart(7)} cases ${String(report.refused).padStart(7)} refused ${String(report.ms).padStart(7)} ms  slowest ${report.slowestCaseMs} ms  heap ${report.heapBeforeMb}→${report.heapAfterMb} MB  max RSS ${report.maxRssMb} MB  ${report.findings.length} findings${report.stoppedEarly ? ' (stopped early)' : ''}\n`,
      );
    }
  }
  const findings = reports.flatMap((r) => r.findings);
  if (values.json) process.stdout.write(`${JSON.stringify({ seed, reports }, null, 2)}\n`);
  else {
    for (const f of findings) process.stdout.write(`FINDING ${f.target} case ${f.case} (${f.kind}, ${f.ms} ms): ${f.error}\n  input (${f.inputBytes} bytes): ${f.input}${f.inputBytes > 256 ? '…' : ''}\n  replay: node dist/fuzz.js --seed ${f.seed} --target ${f.target} --case ${f.case}\n`);
    process.stdout.write(`fuzz: seed ${seed}: ${findings.length} findings\n`);
  }
  return findings.length ? 1 : 0;
}

if (isMainThread) {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fuzz: ${describe(err)}\n`);
      process.exitCode = 1;
    },
  );
} else worker();
