// The product does its kernel work natively: no ip, nsenter or sysctl, no `any`. The only
// process it ever starts is itself (hooks/background.ts, by the addon's posix_spawn: optimistic
// DAD after the hook returns);
// the runtime wrapper (hooks/shim.ts) becomes the real runtime by execve — the addon's one
// mechanism for it (runtime/native/addon.c, typed in runtime/system/native.ts) — and nothing else.
// The one exception is an operator's command, not a container's path: `install` asks systemd,
// where it runs, to enable and start the agent's unit, and `systemctl` is systemd's own interface
// for that (hooks/install.ts spawns systemctl and nothing else).
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
  // Code only: comments may say what they like.
  const text = fs.readFileSync(path.join(root, file), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  if (file === path.join('hooks', 'background.ts')) {
    t.same(text.match(/\bspawn_detached\([^,]+/g), ['spawn_detached(process.execPath'], `${file}: spawns only node itself`);
    t.notMatch(text, /child_process|\bexecve?\b\(|\bfork\(|\bsystem\(|\bpopen\(/, `${file}: nothing else`);
  } else if (file === path.join('hooks', 'shim.ts')) {
    t.same(text.match(/\bexecve?\b\([^,]+/g), ['execve(runtime'], `${file}: execs only the configured runtime`);
    t.notMatch(text, /child_process|\bfork\(|\bsystem\(|\bpopen\(/, `${file}: spawns nothing`);
  } else if (file === path.join('hooks', 'install.ts')) {
    t.same(text.match(/spawnSync\([^,]+/g), ["spawnSync('systemctl'"], `${file}: spawns only systemctl`);
    t.notMatch(text, /\bexecve?\b\(|\bfork\(|\bsystem\(|\bpopen\(/, `${file}: execs nothing`);
  } else if (file === path.join('runtime', 'native', 'addon.c') || file === path.join('runtime', 'system', 'native.ts')) {
    t.same(text.match(/\bexecve?\b\([^,)]*/g)?.filter((m) => !/^execve\((path|env|path: string)$/.test(m)) ?? [], [], `${file}: execve only as the addon's mechanism`);
    t.notMatch(text, /child_process|\bfork\(|\bsystem\(|\bpopen\(/, `${file}: spawns nothing`);
    t.same(text.match(/\bposix_spawn\(&pid, [^,]+/g) ?? [], file.endsWith('.c') ? ['posix_spawn(&pid, path'] : [], `${file}: posix_spawn only as the addon's mechanism`);
  } else {
    t.notMatch(text, /child_process|\bexecve?\b\(|\bfork\(|\bsystem\(|\bpopen\(|spawn_detached\(/, `${file}: spawns nothing`);
  }
  if (file.endsWith('.ts')) t.notMatch(text, /(:\s*any\b|<any>|\bas any\b|any\[\])/, `${file}: no any`);
}
