// `oci-slaac-hook doctor` in lab `doc` (2001:db8:c8::/64, BIND, an agent of its own): every check
// that matters ok; then the agent down, a wrong TSIG key, and the router stopped — each named as a
// fail with its fix, exit 1. With no parent configured, doctor says so (and the hook lets
// containers start: tests/e2e/hook.test.ts).
import t, { type Test } from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';
import { HOOK_CLI } from '../../vm/lab/fake-container';
import { absoluteConfigPath } from '../../runtime/core/config-path';
import { delegateSocketPath } from '../../runtime/wire/delegate-protocol';
import { stopRadvd } from './ra-router';

t.setTimeout(120_000);

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-doc-'));
const libDir = path.join(work, 'lib');
const stateDir = path.join(work, 'state');
fs.mkdirSync(libDir, { mode: 0o700 });
fs.writeFileSync(path.join(libDir, 'secret'), Buffer.alloc(32, 0xd0), { mode: 0o600 });
const ENV = { PATH: process.env.PATH ?? '', OCI_SLAAC_HOOK_STATE_LIB: libDir, OCI_SLAAC_HOOK_SYSLOG: path.join(work, 'no-syslog.sock') };

let lab: Lab;
let agent: ChildProcess | undefined;

interface Finding {
  check: string;
  verdict: 'ok' | 'warn' | 'fail';
  detail: string;
  fix?: string;
}

function writeConfig(name: string, keyFile: string, parent?: string): string {
  const file = path.join(work, `${name}.toml`);
  fs.writeFileSync(
    file,
    [
      ...(parent === undefined ? [] : [`parent = ${JSON.stringify(parent)}`]),
      `state_dir = ${JSON.stringify(stateDir)}`,
      '[dns]',
      `server = ${JSON.stringify(`[${lab.dnsAddr}]:${lab.dnsPort}`)}`,
      `zone = ${JSON.stringify(lab.dnsZone)}`,
      `key_file = ${JSON.stringify(keyFile)}`,
      'timeout_ms = 1000',
    ].join('\n') + '\n',
  );
  return file;
}

async function doctor(t: Test, config: string): Promise<{ code: number; text: string; findings: Finding[] }> {
  const text = await run('env', ['-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'doctor', '--config', config], { baseEnv: ENV, timeoutMs: 30_000 });
  const json = await run('env', ['-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'doctor', '--config', config, '--json'], { baseEnv: ENV, timeoutMs: 30_000 });
  t.equal(json.code, text.code, '--json exits as the text form does');
  return { code: text.code, text: text.stdout, findings: (JSON.parse(json.stdout) as { findings: Finding[] }).findings };
}
const find = (fs_: Finding[], check: string): Finding | undefined => fs_.find((f) => f.check === check);

t.before(async () => {
  lab = await labUp({
    LAB_NAME: 'doc',
    LAB_PREFIX: '2001:db8:c8::/64',
    LAB_ROUTER_ADDR: '2001:db8:c8::1',
    LAB_PEER_ADDR: '2001:db8:c8::100',
    LAB_RETRANS_MS: '250',
    LAB_DNS: 'bind',
    LAB_DNS_ADDR: '2001:db8:c8::53',
    LAB_HOST_ADDR: '2001:db8:c8::2/64',
  });
});
t.teardown(async () => {
  agent?.kill('SIGTERM');
  await lab?.down();
  fs.rmSync(work, { recursive: true, force: true });
});

t.test('doctor in the lab: every check ok; then agent down, wrong key, router stopped: each a fail with its fix', async (t) => {
  const good = writeConfig('good', lab.dnsKeyFile ?? '', lab.hostIf);
  agent = spawn('env', ['-u', 'NODE_OPTIONS', process.execPath, HOOK_CLI, 'agent', '--config', good], { env: ENV, stdio: ['ignore', 'ignore', 'ignore'] });
  for (let i = 0; i < 50 && !fs.existsSync(path.join(stateDir, 'agent.sock')); i++) await new Promise((r) => setTimeout(r, 100));
  const delegate = delegateSocketPath(absoluteConfigPath(good));
  for (let i = 0; i < 50 && !fs.existsSync(delegate); i++) await new Promise((r) => setTimeout(r, 100));

  const all = await doctor(t, good);
  t.match(find(all.findings, 'agent')?.detail, /root hooks hand it their stages/, 'the agent takes root hooks\' stages');
  t.comment(all.text);
  t.equal(all.code, 0, 'exit 0');
  for (const check of ['config', 'kernel macvlan', 'parent', 'router', 'secret', 'state dir', 'agent', 'dns', 'free address']) {
    t.equal(find(all.findings, check)?.verdict, 'ok', `${check}: ok (${find(all.findings, check)?.detail})`);
  }
  t.notOk(all.findings.some((f) => f.verdict === 'fail'), 'no fail');
  t.match(find(all.findings, 'router')?.detail, /advertises 2001:db8:c8::\/64/);
  for (const line of all.text.trim().split('\n')) t.match(line, /^(ok|warn|fail)\s+\S/, `one line per check: ${line.slice(0, 40)}`);

  agent.kill('SIGTERM');
  await new Promise((r) => agent?.once('exit', r));
  agent = undefined;
  const noAgent = await doctor(t, good);
  t.equal(noAgent.code, 1, 'agent down: exit 1');
  t.match(find(noAgent.findings, 'agent'), { verdict: 'fail', detail: /no agent answers/, fix: /systemctl enable --now oci-slaac-hook-agent/ }, 'agent: fail, with the fix');

  const wrongKey = path.join(work, 'wrong.key');
  const real = fs.readFileSync(lab.dnsKeyFile ?? '', 'utf8');
  fs.writeFileSync(wrongKey, real.replace(/secret "[^"]+"/, `secret "${Buffer.alloc(32, 0x55).toString('base64')}"`));
  const badKey = await doctor(t, writeConfig('badkey', wrongKey, lab.hostIf));
  t.equal(badKey.code, 1, 'wrong TSIG key: exit 1');
  t.match(find(badKey.findings, 'dns'), { verdict: 'fail', detail: /BADSIG|NOTAUTH|BADKEY/, fix: /key_file/ }, `dns: fail, with the fix (${find(badKey.findings, 'dns')?.detail})`);

  await stopRadvd(lab);
  const noRouter = await doctor(t, good);
  t.equal(noRouter.code, 1, 'router stopped: exit 1');
  t.match(find(noRouter.findings, 'router'), { verdict: 'fail', detail: /no router advertisement on/, fix: /radvd/ }, 'router: fail, with the fix');

  const none = await doctor(t, writeConfig('none', lab.dnsKeyFile ?? ''));
  t.equal(none.code, 1);
  t.match(find(none.findings, 'parent'), { verdict: 'fail', detail: /no parent interface configured/, fix: /set parent/ }, 'no parent: named, with the fix');
});
