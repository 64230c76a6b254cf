// `npm run bench -- --scale` in small (issue 16, item 6): the built benchmark (dist/bench.js) run as
// a user runs it — N=10 containers, 10 concurrent starts, one time-to-address round, a 1 s iperf3
// per path (none when iperf3 is not installed) — in its own lab `scl` (2001:db8:cd::/64). Every
// start succeeds, the addresses are distinct, the chart is written, and nothing of it is left:
// no scl-* netns, no process of its run, no work dir. Then the same run interrupted (SIGINT) in the
// middle of its scale phase: it exits 130 and leaves nothing either.
import t from 'tap';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT, run } from '../../vm/lab/run';

t.setTimeout(300_000);

const BENCH = path.join(REPO_ROOT, 'dist', 'bench.js');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-bsc-'));
const chart = path.join(work, 'bench.svg');
const hasIperf = ['/usr/bin/iperf3', '/usr/local/bin/iperf3'].some((p) => fs.existsSync(p));
const ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' };

const sclNetns = (): string[] => (fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns').filter((x) => x.startsWith('scl-')) : []);
const sclDirs = (): string[] => fs.readdirSync(os.tmpdir()).filter((x) => x.startsWith('scl-'));
/** Processes whose argv names a /tmp/scl-* path (the bench's hooks, agent) or the scl lab's peer (iperf3 -s). */
function sclProcesses(): string[] {
  const out: string[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = fs.readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.startsWith(path.join(os.tmpdir(), 'scl-'))) || (argv.includes('iperf3') && argv.includes('2001:db8:cd::100'))) out.push(`${d}: ${argv.join(' ')}`);
    } catch {
      // gone
    }
  }
  return out;
}

const dirsBefore = new Set(sclDirs());
const newDirs = (): string[] => sclDirs().filter((d) => !dirsBefore.has(d));

t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

t.test('--scale N=10, 10 concurrent: all succeed, distinct addresses, nothing left', async (t) => {
  t.ok(fs.existsSync(BENCH), 'dist/bench.js built (npm run build:bundle)');
  t.strictSame(sclNetns(), [], 'no scl-* netns before');
  const args = ['--scale', '--scale-n', '10', '--concurrency', '10', '--address-iterations', '1', '--iperf-seconds', '1', '--iperf-rounds', hasIperf ? '1' : '0', '--chart', chart, '--json'];
  const r = await run('env', ['-u', 'NODE_OPTIONS', process.execPath, BENCH, ...args], { baseEnv: ENV, timeoutMs: 240_000 });
  t.equal(r.code, 0, `exit 0 (stderr: ${r.stderr.trim().split('\n').slice(-3).join(' | ')})`);
  const j = JSON.parse(r.stdout) as {
    scale: { n: number; hook: { ok: number; p50: number | null; p99: number | null }; withAddress: number; distinctAddresses: number; poststopFailures: number; agent: { rssMiB: number | null }; kernel: { links: number } }[];
    concurrent: { n: number; ok: number; distinct: number };
    address: { series: Record<string, { ok: number; p50: number | null }> };
    dataPlane: { ratio: { macvlanOverHost: number | null; natOverHost: number | null } } | null;
    netnsLeft: string[];
  };
  const s = j.scale[0];
  t.equal(s?.n, 10);
  t.equal(s?.hook.ok, 10, 'every createRuntime exited 0');
  t.equal(s?.withAddress, 10, 'every container netns holds one global address');
  t.equal(s?.distinctAddresses, 10, 'all distinct');
  t.equal(s?.poststopFailures, 0, 'every poststop exited 0');
  t.ok((s?.hook.p99 ?? 0) >= (s?.hook.p50 ?? Infinity), 'p99 ≥ p50');
  t.ok((s?.agent.rssMiB ?? 0) > 0, `agent RSS read (${s?.agent.rssMiB?.toFixed(1)} MiB)`);
  t.ok((s?.kernel.links ?? 0) >= 20, 'kernel objects counted (lo + eth0 in each netns)');
  t.equal(j.concurrent.ok, 10, '10 concurrent starts succeeded');
  t.equal(j.concurrent.distinct, 10, 'with 10 distinct addresses');
  for (const k of ['hookStrict', 'hookOptimistic', 'cniKernelDad', 'kernelSlaac']) t.equal(j.address.series[k]?.ok, 1, `time to address: ${k} measured`);
  if (hasIperf) {
    t.ok((j.dataPlane?.ratio.macvlanOverHost ?? 0) > 0, `iperf3 macvlan/host ratio ${j.dataPlane?.ratio.macvlanOverHost?.toFixed(2)}`);
    t.ok((j.dataPlane?.ratio.natOverHost ?? 0) > 0, `iperf3 NAT/host ratio ${j.dataPlane?.ratio.natOverHost?.toFixed(2)}`);
  } else t.comment('iperf3 not installed: data plane skipped');
  t.strictSame(j.netnsLeft, [], 'the bench saw no scl-* netns left');
  const svg = fs.readFileSync(chart, 'utf8');
  t.match(svg, /^<svg [^>]*>[\s\S]*<\/svg>\n$/, 'the chart is an SVG document');
  t.notMatch(svg, /NaN|Infinity|undefined/, 'with finite numbers');
  t.strictSame(sclNetns(), [], 'no scl-* netns after');
  t.strictSame(sclProcesses(), [], 'no process of the run left');
  t.strictSame(newDirs(), [], 'its /tmp/scl-* work dir removed');
});

t.test('SIGINT during the scale phase: exit 130, nothing left', async (t) => {
  const child = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, BENCH, '--scale', '--scale-n', '40', '--concurrency', '0', '--address-iterations', '1', '--iperf-rounds', '0'], { env: ENV, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let poll: NodeJS.Timeout | undefined;
  child.stderr.on('data', (d: Buffer) => {
    err += d.toString('utf8');
    // Once the scale phase runs, netns scl-c1…scl-c40 exist; 1.5 s later containers are being started.
    if (poll === undefined && /time to address: round 1\/1/.test(err)) {
      poll = setInterval(() => {
        if (!fs.existsSync('/run/netns/scl-c40')) return;
        clearInterval(poll);
        setTimeout(() => child.kill('SIGINT'), 1500);
      }, 50);
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearInterval(poll);
  t.match(err, /SIGINT: stopping and cleaning up/, 'it said it was interrupted');
  t.equal(code, 130, 'exit 130');
  t.strictSame(sclNetns(), [], 'no scl-* netns after');
  t.strictSame(sclProcesses(), [], 'no process of the run left');
  t.strictSame(newDirs(), [], 'its /tmp/scl-* work dir removed');
});
