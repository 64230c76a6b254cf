// The layers of the runtime, as a guard: core < wire < system < ops < pipeline < agent < hooks. A file may
// import from its own layer or a lower one, never a higher one; the lab tools (vm/lab) and scripts
// never import from tests/, nor does anything that ships. Specifiers are read from the source
// (`from '…'`, `import '…'`, `import('…')`, `require('…')`) and relative ones resolved.
import * as fs from 'node:fs';
import * as path from 'node:path';
import t from 'tap';

const ROOT = path.resolve(__dirname, '../..');
const LAYERS = ['runtime/core', 'runtime/wire', 'runtime/system', 'runtime/ops', 'runtime/pipeline', 'runtime/agent', 'hooks'] as const;
const SOURCE = /\.(ts|js|mjs|cjs)$/;

function walk(dir: string): string[] {
  const abs = path.join(ROOT, dir);
  if (!fs.existsSync(abs)) return [];
  return fs.readdirSync(abs, { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return e.name === 'node_modules' ? [] : walk(rel);
    return SOURCE.test(e.name) && !e.name.endsWith('.d.ts') ? [rel] : [];
  });
}

/** Comments out of the way (a doc comment may well say "from '…'"); line comments only where a line starts with one. */
function stripComments(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

function specifiers(source: string): string[] {
  const text = stripComments(source);
  const out: string[] = [];
  const patterns = [
    /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of text.matchAll(re)) if (m[1]) out.push(m[1]);
  return out;
}

/** A relative specifier as a path from the repository root (no extension resolution needed: layers are folders). */
function resolve(from: string, spec: string): string | undefined {
  if (!spec.startsWith('.')) return undefined; // a package or node: builtin
  return path.posix.normalize(path.posix.join(path.posix.dirname(from), spec));
}

const within = (file: string, dir: string): boolean => file === dir || file.startsWith(`${dir}/`);
const layerOf = (file: string): number => LAYERS.findIndex((l) => within(file, l));

/** What is wrong with `file` importing `target` (repository paths), if anything. */
function violation(file: string, target: string): string | undefined {
  const from = layerOf(file);
  const to = layerOf(target);
  if (within(target, 'tests') && !within(file, 'tests')) return `${file} imports ${target}: nothing outside tests/ imports from tests/`;
  if (from >= 0 && to > from) return `${file} (${LAYERS[from]}) imports ${target} (${LAYERS[to]}): a lower layer imports a higher one`;
  if (from >= 0 && (within(target, 'vm') || within(target, 'scripts'))) return `${file} imports ${target}: the runtime does not import lab tools or scripts`;
  return undefined;
}

function violationsIn(file: string, source: string): string[] {
  return specifiers(source).flatMap((spec) => {
    const target = resolve(file, spec);
    const v = target && violation(file, target);
    return v ? [v] : [];
  });
}

const files = [...LAYERS.flatMap((l) => walk(l)), ...walk('vm/lab'), ...walk('scripts')];

t.test('the checker itself finds what it should', async (t) => {
  t.strictSame(
    specifiers(`import { a } from './a';\nimport type { B } from "../b";\nexport { c } from './c';\nexport * from './d';\nimport './e';\nconst f = require('./f');\nawait import('./g');\nimport {\n  h,\n  i,\n} from './hi';\n/** like the one from '../not-an-import' */\n// import x from './commented';\nimport * as fs from 'node:fs';`),
    ['./a', '../b', './c', './d', './hi', 'node:fs', './e', './g', './f'],
  );
  t.strictSame(violationsIn('runtime/core/plan.ts', "import { x } from '../system/kernel';"), ['runtime/core/plan.ts (runtime/core) imports runtime/system/kernel (runtime/system): a lower layer imports a higher one']);
  t.strictSame(violationsIn('runtime/ops/link.ts', "import type { P } from '../pipeline/deps';").length, 1, 'a type import counts too');
  t.strictSame(violationsIn('runtime/pipeline/attach.ts', "import { main } from '../../hooks/hook';").length, 1);
  t.strictSame(violationsIn('runtime/wire/ndp/codec.ts', "import { a } from '../../system/native';").length, 1, 'from a sub-folder');
  t.strictSame(violationsIn('vm/lab/lab.ts', "import { hex } from '../../tests/unit/helpers';").length, 1);
  t.strictSame(violationsIn('scripts/bench.ts', "const h = require('../tests/unit/helpers');").length, 1);
  t.strictSame(violationsIn('runtime/system/log.ts', "import { x } from '../../vm/lab/lab';").length, 1);
  t.strictSame(violationsIn('hooks/hook.ts', "import { a } from '../runtime/pipeline/attach';\nimport { b } from '../runtime/core/config';\nimport { c } from './commands';"), [], 'downwards and sideways are fine');
  t.strictSame(violationsIn('runtime/ops/address.ts', "import { a } from '../core/ipv6';\nimport { b } from '../wire/rtnetlink/constants';\nimport { c } from './context';"), []);
  t.strictSame(violationsIn('tests/unit/x.test.ts', "import { a } from '../../runtime/pipeline/attach';\nimport { b } from './helpers';"), [], 'tests import anything');
});

t.test('every layer has files, and every runtime source is in a layer', async (t) => {
  for (const layer of LAYERS) t.ok(files.filter((f) => within(f, layer)).length > 0, `${layer} has sources`);
  const stray = walk('runtime').filter((f) => layerOf(f) < 0);
  t.strictSame(stray, [], 'no runtime source outside core, wire, system, ops, pipeline');
  t.ok(files.filter((f) => within(f, 'vm/lab')).length > 0, 'vm/lab has sources');
  t.ok(files.filter((f) => within(f, 'scripts')).length > 0, 'scripts has sources');
});

t.test('no file imports from a higher layer, and nothing outside tests imports from tests/', async (t) => {
  let imports = 0;
  const found: string[] = [];
  for (const file of files) {
    const source = fs.readFileSync(path.join(ROOT, file), 'utf8');
    imports += specifiers(source).filter((s) => s.startsWith('.')).length;
    found.push(...violationsIn(file, source));
  }
  t.ok(imports > 100, `${files.length} files, ${imports} relative imports checked`);
  t.strictSame(found, []);
});
