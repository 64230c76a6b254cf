// hooks/manual.ts is the one source of `help`, the man pages and README's table of config.toml
// keys: the table is the manual's, row for row; every key config.toml takes is in it; the man
// pages are valid roff (groff, warnings as errors) naming every command and key.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { DEFAULTS, TABLES } from '../../runtime/core/config';
import { COMMANDS, CONFIG_KEYS, keyRow } from '../../hooks/manual';
import { configPage, hookPage, roff, runtimePage, writeManPages } from '../../scripts/man';

const README = fs.readFileSync(path.join(__dirname, '..', '..', 'README.md'), 'utf8');

t.test("README's table of keys is the manual's", async (t) => {
  const start = README.indexOf('| key | default | meaning |');
  t.ok(start >= 0, 'the table is there');
  const rows = README.slice(start).split('\n').slice(2);
  const table = rows.slice(0, rows.findIndex((l) => !l.startsWith('|')));
  t.same(table, CONFIG_KEYS.map(keyRow), 'row for row');
});

t.test("every top-level key of config.toml is in the manual", async (t) => {
  const documented = new Set(CONFIG_KEYS.flatMap((k) => [...k.key.matchAll(/`([a-z0-9_]+)`/g)].map((m) => m[1])));
  for (const key of Object.keys(DEFAULTS).filter((k) => !TABLES.includes(k))) t.ok(documented.has(key), key);
});

t.test('roff: escapes, bold code, ASCII only, no control line', async (t) => {
  t.equal(roff('a `b-c` \\ d'), 'a \\fBb\\-c\\fR \\e d');
  t.equal(roff('.x'), '\\&.x');
  t.equal(roff('§ —'), '\\[u00A7] \\[u2014]');
});

t.test('the man pages: groff reads them without a warning; every command and key named', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-man-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const files = writeManPages(dir, '9.9.9');
  t.equal(files.length, 3);
  const groff = spawnSync('groff', ['-man', '-Tutf8', '-ww', '-z'], { input: hookPage('9.9.9') + runtimePage('9.9.9') + configPage('9.9.9'), encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  if (groff.error) {
    t.pass('groff is not installed: not read');
    return;
  }
  t.equal(groff.stderr, '', 'no warning');
  const text = spawnSync('groff', ['-man', '-Tutf8'], { input: hookPage('9.9.9'), encoding: 'utf8' }).stdout.replace(/.\x08/g, '');
  for (const c of COMMANDS) t.match(text, c.name, `oci-slaac-hook(8) names ${c.name}`);
  t.match(text, /oci-slaac-hook 9\.9\.9/);
  const conf = spawnSync('groff', ['-man', '-Tutf8'], { input: configPage('9.9.9'), encoding: 'utf8' }).stdout.replace(/.\x08/g, '');
  // Each key's first name (a long list of names wraps).
  for (const k of CONFIG_KEYS) {
    const first = (/^(`\[[a-z_]+\]` )?`[a-z0-9_]+`/.exec(k.key)?.[0] ?? k.key).replace(/`/g, '').replace(/[[\]]/g, '\\$&').replace(/ /g, '\\s+');
    t.match(conf, new RegExp(first), `oci-slaac-hook.toml(5) names ${k.key}`);
  }
});
