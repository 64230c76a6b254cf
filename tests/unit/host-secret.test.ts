import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import t from 'tap';
import { loadOrCreateHostSecret } from '../../runtime/system/host-secret';

const mode = (path: string): number => fs.statSync(path).mode & 0o777;

t.test('creates a 32-byte secret, 0600 in a 0700 dir, and reuses it', async (t) => {
  const dir = join(t.testdir(), 'state', 'lib');
  const first = loadOrCreateHostSecret(dir);
  t.equal(first.length, 32);
  t.equal(mode(join(dir, 'secret')), 0o600);
  t.equal(mode(dir), 0o700);
  t.same(fs.readdirSync(dir), ['secret'], 'no temp file left behind');
  t.equal(loadOrCreateHostSecret(dir).toString('hex'), first.toString('hex'), 'same secret on the second load');
  t.not(loadOrCreateHostSecret(t.testdir()).toString('hex'), first.toString('hex'), 'another host, another secret');
});

t.test('defaults to $OCI_SLAAC_HOOK_STATE_LIB', async (t) => {
  const dir = t.testdir();
  const saved = process.env.OCI_SLAAC_HOOK_STATE_LIB;
  t.teardown(() => {
    if (saved === undefined) delete process.env.OCI_SLAAC_HOOK_STATE_LIB;
    else process.env.OCI_SLAAC_HOOK_STATE_LIB = saved;
  });
  process.env.OCI_SLAAC_HOOK_STATE_LIB = dir;
  const secret = loadOrCreateHostSecret();
  t.equal(fs.readFileSync(join(dir, 'secret')).toString('hex'), secret.toString('hex'));
});

t.test('20 processes racing to create it all get the same secret', async (t) => {
  const dir = join(t.testdir(), 'race');
  // The module bundled by esbuild (as it ships), so plain node children start fast.
  const bundle = buildSync({
    entryPoints: [resolve(__dirname, '../../runtime/system/host-secret.ts')],
    bundle: true,
    platform: 'node',
    format: 'iife',
    globalName: 'hostSecret',
    write: false,
  }).outputFiles[0]?.text;
  if (bundle === undefined) throw new Error('esbuild produced no output');
  // Each child says "ready", waits for "go" on stdin, then loads (or creates) the secret.
  const script = `${bundle}
    const { loadOrCreateHostSecret } = hostSecret;
    process.stdout.write('ready\\n');
    process.stdin.once('data', () => {
      process.stdout.write(loadOrCreateHostSecret(${JSON.stringify(dir)}).toString('hex') + '\\n');
      process.exit(0);
    });`;
  const env = { ...process.env, NODE_OPTIONS: '' };
  const children = Array.from({ length: 20 }, () => {
    const child = spawn(process.execPath, ['-e', script], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    const ready = new Promise<void>((ok, fail) => {
      child.stdout.on('data', (chunk: string) => ((out += chunk), out.includes('ready\n') && ok()));
      child.once('exit', (code) => fail(new Error(`child exited ${code} before it was ready`)));
    });
    // 'close', not 'exit': only then has all of the child's stdout been read.
    const done = new Promise<string>((ok, fail) =>
      child.on('close', (code) => (code === 0 ? ok(out.replace('ready\n', '').trim()) : fail(new Error(`child exited ${code}`)))),
    );
    return { child, ready, done };
  });
  await Promise.all(children.map((c) => c.ready));
  for (const c of children) c.child.stdin.end('go\n');
  const secrets = await Promise.all(children.map((c) => c.done));
  t.equal(secrets.length, 20);
  t.match(secrets[0], /^[0-9a-f]{64}$/);
  t.same(new Set(secrets), new Set([secrets[0]]), 'every process sees the same secret');
  t.equal(fs.readFileSync(join(dir, 'secret')).toString('hex'), secrets[0]);
  t.same(fs.readdirSync(dir), ['secret'], 'all temp files removed');
});

t.test('a corrupt secret is a clear error', async (t) => {
  for (const size of [0, 31, 33]) {
    const dir = t.testdir({ secret: '' });
    const path = join(dir, 'secret');
    fs.writeFileSync(path, Buffer.alloc(size, 1), { mode: 0o600 });
    fs.chmodSync(path, 0o600);
    t.throws(() => loadOrCreateHostSecret(dir), { message: `host secret ${path} is corrupt: ${size} bytes, expected 32` });
    t.equal(fs.statSync(path).size, size, 'left alone for the operator');
  }
});

t.test('a secret open to group or others is refused', async (t) => {
  for (const bad of [0o644, 0o640, 0o604, 0o620]) {
    const dir = t.testdir();
    const path = join(dir, 'secret');
    fs.writeFileSync(path, Buffer.alloc(32, 1));
    fs.chmodSync(path, bad);
    t.throws(() => loadOrCreateHostSecret(dir), { message: new RegExp(`^host secret ${path} has mode 0${bad.toString(8)}, refusing`) });
  }
});

t.test('a directory in the way is refused', async (t) => {
  const dir = t.testdir({ secret: {} });
  fs.chmodSync(join(dir, 'secret'), 0o700);
  t.throws(() => loadOrCreateHostSecret(dir), /is not a regular file/);
});
