// The product does its kernel work natively: no child processes at all in runtime/ or hooks/
// (no ip, nsenter or sysctl), and no `any`.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');
function sources(dir: string): string[] {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = path.join(dir, e.name);
    if (e.isDirectory()) return sources(rel);
    return /\.(ts|c)$/.test(e.name) ? [rel] : [];
  });
}
const files = [...sources('runtime'), ...sources('hooks')];

t.ok(files.length > 10, `${files.length} product files`);
for (const file of files) {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  t.notMatch(text, /child_process|\bexecve?\b\(|\bfork\(|\bsystem\(|\bpopen\(/, `${file}: spawns nothing`);
  if (file.endsWith('.ts')) t.notMatch(text, /(:\s*any\b|<any>|\bas any\b|any\[\])/, `${file}: no any`);
}
