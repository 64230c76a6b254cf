/**
 * The one process the product starts: itself, detached, to finish optimistic DAD after the hook
 * has returned (the runtime waits for the hook, so the hook cannot wait for DAD).
 *
 * Its argv is `__complete-dad ID [--config PATH]`: the receiving side (oci-slaac-hook.ts) takes
 * the id as the first argument verbatim, so an id starting with "-" is never read as an option.
 */
import type * as ChildProcess from 'node:child_process';

export function spawnSelf(args: string[]): void {
  const script = process.argv[1];
  if (!script) throw new Error('cannot find our own script to run in the background');
  // Loaded here, not at start-up: a hook whose agent completes DAD, and poststop, never spawn.
  const { spawn } = require('node:child_process') as typeof ChildProcess;
  const child = spawn(process.execPath, [script, ...args], { detached: true, stdio: 'ignore', env: process.env });
  child.unref();
}
