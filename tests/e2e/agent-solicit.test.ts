// The agent follows a router that (after radvd's few initial advertisements) speaks only when
// solicited: radvd with MaxRtrAdvInterval 1800 s and a prefix of preferred 10 s / valid 20 s. The
// agent's listener solicits before the preferred lifetime runs out (NetworkManager's pre-expiry
// RS), so its RA cache stays fresh for a minute — long past radvd's initial RAs (3, at most 16 s
// apart) — and the router's answers keep coming.
// Lab agds (host netns agd-host, 2001:db8:f2::/64); no container needed.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { labUp, type Lab } from '../../vm/lab/lab';
import { HOOK_CLI } from '../../vm/lab/fake-container';
import type { AgentAnswer } from '../../runtime/wire/agent-protocol';

t.setTimeout(150_000);

const HOST_NETNS = 'agd-host';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-agds-'));
const stateDir = path.join(work, 'state');
const configFile = path.join(work, 'config.toml');
const socketFile = path.join(stateDir, 'agent.sock');
const ENV = { OCI_SLAAC_HOOK_STATE_LIB: work, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const SAMPLE_S = 60;

let lab: Lab | undefined;
let agent: ChildProcess | undefined;
let log = '';

function ask(request: object): Promise<AgentAnswer & { counters?: { listeners?: Record<string, { ras: number; solicitations: number }> } }> {
  return new Promise((resolve, reject) => {
    const s = net.createConnection(socketFile);
    let b = '';
    s.on('data', (d) => (b += d.toString()));
    s.on('end', () => {
      try {
        resolve(JSON.parse(b));
      } catch (err) {
        reject(err);
      }
    });
    s.on('error', reject);
    s.write(`${JSON.stringify(request)}\n`);
  });
}

t.before(async () => {
  lab = await labUp({
    LAB_NAME: 'agds',
    LAB_HOST_NETNS: HOST_NETNS,
    LAB_PREFIX: '2001:db8:f2::/64',
    LAB_ROUTER_ADDR: '2001:db8:f2::1',
    LAB_PEER_ADDR: '2001:db8:f2::100',
    LAB_RA_INTERVAL: '1800',
    LAB_RA_MIN_INTERVAL: '1350',
    LAB_ROUTER_LIFETIME: '0',
    LAB_VALID_LIFETIME: '20',
    LAB_PREFERRED_LIFETIME: '10',
  });
  fs.writeFileSync(configFile, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\n`);
});
t.teardown(async () => {
  if (agent && agent.exitCode === null && agent.signalCode === null) {
    agent.kill('SIGTERM');
    await new Promise((r) => agent?.on('exit', r));
  }
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

t.test('a router that answers only solicitations: the cache stays fresh by pre-expiry RSs', async (t) => {
  const l = lab;
  if (!l) throw new Error('no lab');
  agent = spawn('ip', ['netns', 'exec', HOST_NETNS, 'env', '-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', configFile], {
    env: { PATH: process.env.PATH ?? '', ...ENV },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  agent.stderr?.setEncoding('utf8').on('data', (s: string) => (log += s));
  for (let i = 0; i < 100 && !log.includes('agent: started'); i++) await sleep(50);
  t.match(log, /agent: started/);

  let stale = 0;
  let firstFresh: number | undefined;
  const started = performance.now();
  const at40: { ras: number; solicitations: number }[] = [];
  for (let s = 0; s < SAMPLE_S; s++) {
    const a = await ask({ op: 'ra', parent: l.hostIf });
    const fresh = a.ok && (a.heard?.length ?? 0) > 0;
    if (fresh) firstFresh ??= s;
    else if (firstFresh !== undefined) stale++;
    if (s === 40) {
      const p = await ask({ op: 'ping' });
      const c = p.counters?.listeners?.[l.hostIf];
      if (c) at40.push(c);
    }
    await sleep(Math.max(0, started + (s + 1) * 1000 - performance.now()));
  }
  const p = await ask({ op: 'ping' });
  const c = p.counters?.listeners?.[l.hostIf];
  t.ok(firstFresh !== undefined && firstFresh <= 10, `an RA in the cache within ${firstFresh} s (the first RS may go out before radvd runs: retransmitted after 4 s)`);
  t.equal(stale, 0, `fresh at every one of ${SAMPLE_S} samples, 1 s apart (valid lifetime 20 s, no unsolicited RA after radvd's first three)`);
  t.ok((c?.solicitations ?? 0) >= 4, `pre-expiry solicitations sent: ${c?.solicitations}`);
  t.ok((c?.ras ?? 0) > (at40[0]?.ras ?? Infinity), `RAs still coming after 40 s: ${at40[0]?.ras} at 40 s, ${c?.ras} at ${SAMPLE_S} s`);
  t.match(log, /soliciting: a router's RA runs out soon and no new one came/);
  t.comment(`listener counters: ${JSON.stringify(c)}`);
});
