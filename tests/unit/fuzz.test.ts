// The fuzz harness's short run (CI): a few thousand cases per target of every parser of untrusted
// input (scripts/fuzz-targets.ts), in process. `npm run fuzz` is the long run (100k per target,
// each in a worker watched for hangs). OSH_FUZZ_SEED replays a run; the seed is printed.
import t from 'tap';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { InputError } from '../../runtime/core/errors';
import { runTarget, TARGETS, type Target } from '../../scripts/fuzz-targets';

// A fixed seed in CI (a run is reproducible); OSH_FUZZ_SEED=N replays, OSH_FUZZ_SEED=random explores.
const seed = process.env.OSH_FUZZ_SEED === 'random' ? Math.floor(Math.random() * 0x7fffffff) : Number(process.env.OSH_FUZZ_SEED ?? 20261130);
const CASES = 2500;
// A gc() for the heap figures (as the workers of `npm run fuzz` have): garbage is not growth.
setFlagsFromString('--expose-gc');
(globalThis as { gc?: unknown }).gc ??= runInNewContext('gc');

t.comment(`fuzz seed ${seed} (replay: OSH_FUZZ_SEED=${seed} npx tap tests/unit/fuzz.test.ts, or node dist/fuzz.js --seed ${seed})`);

t.test('the targets cover every parser of untrusted input', async (t) => {
  t.same(TARGETS.map((x) => x.name).sort(), ['add-hooks', 'agent-protocol', 'annotations', 'cni', 'config-json', 'config-toml', 'dns', 'ndp-ns-na', 'ndp-ra', 'oci-state', 'policy', 'rootless-protocol', 'runtime-args']);
});

for (const target of TARGETS) {
  t.test(`${target.name}: ${CASES} cases, no throw but a refusal, no slow case, bounded heap`, async (t) => {
    const report = runTarget(target, { seed, cases: CASES, maxMs: 20000, caseMs: 500 });
    t.equal(report.cases, CASES, `${report.cases} cases in ${report.ms} ms (${report.refused} refused, slowest ${report.slowestCaseMs} ms)`);
    t.same(report.findings, [], 'no findings');
    t.ok(report.heapAfterMb - report.heapBeforeMb < 64, `heap ${report.heapBeforeMb} → ${report.heapAfterMb} MB`);
  });
}

t.test('the runner reports a throw that is not a refusal, a multi-line refusal and a slow case', async (t) => {
  const bad: Target = {
    name: 'bad',
    seeds: [Buffer.from('x')],
    text: false,
    refusals: [InputError],
    run(input, r) {
      const x = r();
      if (x < 0.1) throw new TypeError(`boom ${input.length}`);
      if (x < 0.2) throw new InputError('two\nlines');
      if (x < 0.21) {
        const until = performance.now() + 30;
        while (performance.now() < until);
      }
    },
  };
  const report = runTarget(bad, { seed: 7, cases: 300, maxMs: 10000, caseMs: 20 });
  t.ok(report.findings.some((f) => f.kind === 'throw' && /^TypeError: boom/.test(f.error)));
  t.ok(report.findings.some((f) => f.kind === 'invariant' && /more than one line/.test(f.error)));
  t.ok(report.findings.some((f) => f.kind === 'slow'));
  const again = runTarget(bad, { seed: 7, cases: 300, maxMs: 10000, caseMs: 20 });
  t.same(again.findings.filter((f) => f.kind !== 'slow').map((f) => f.case), report.findings.filter((f) => f.kind !== 'slow').map((f) => f.case), 'deterministic: the same seed finds the same cases');
});
