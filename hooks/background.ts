/**
 * The one process the product starts: itself, detached, to finish optimistic DAD after the hook
 * has returned (the runtime waits for the hook, so the hook cannot wait for DAD).
 *
 * Its argv is `__complete-dad ID [--config PATH]`: the receiving side (oci-slaac-hook.ts) takes
 * the id as the first argument verbatim, so an id starting with "-" is never read as an option.
 *
 * Started with the addon's posix_spawn (a session of its own, stdio on /dev/null): Node's
 * child_process cost a hook 4–5 ms for this one start (loading the module, then fork).
 */
import { native } from '../runtime/system/native';

export function spawnSelf(args: string[]): void {
  const script = process.argv[1];
  if (!script) throw new Error('cannot find our own script to run in the background');
  const envp = Object.entries(process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
  native().spawn_detached(process.execPath, [process.execPath, script, ...args], envp);
}
