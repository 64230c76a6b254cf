/**
 * An OCI runtime's command line as runc and crun take it — `[global flags] COMMAND [flags] [ID]` —
 * read by the runtime wrapper (hooks/oci-slaac-runtime.ts): which command, which bundle, and our
 * own `--slaac-config PATH`, taken out before the real runtime sees the line. Everything else is
 * handed on untouched, in order. Pure; never throws.
 *
 * Global flags that take a value (runc 1.1: --log, --log-format, --root, --criu, --rootless;
 * crun 1.8: also --cgroup-manager, --log-level), alone (`--root X`) or joined (`--root=X`); any
 * other global flag is a switch (--debug, --systemd-cgroup). The bundle of create/run: `--bundle
 * X`, `--bundle=X`, `-b X`, `-b=X`; absent, the current directory (runc's default).
 */

const GLOBAL_WITH_VALUE = new Set(['--log', '--log-format', '--root', '--criu', '--rootless', '--cgroup-manager', '--log-level', '--slaac-config']);
/** create/run flags that take a value, besides the bundle (their values must not be taken for the id). */
const CREATE_WITH_VALUE = new Set(['--console-socket', '--pid-file', '--preserve-fds', '--notify-socket']);
const OURS = '--slaac-config';

export interface RuntimeArgs {
  /** The line for the real runtime: ours taken out, the rest in order. */
  argv: string[];
  /** The command (create, start, state, …); undefined when there is none (`--version`). */
  command?: string;
  /** create/run: the bundle directory as given (relative to the current directory), if given. */
  bundle?: string;
  /** create/run `--preserve-fds N`: fds 3 … 3+N-1 the runtime must be handed. */
  preserveFds?: number;
  /** `--slaac-config PATH`, if given (the last one wins). */
  slaacConfig?: string;
  /** A value flag with nothing after it, or `--slaac-config` empty: the wrapper refuses the line (one line on stderr, exit 1). */
  problem?: string;
}

export function parseRuntimeArgs(args: readonly string[]): RuntimeArgs {
  const argv: string[] = [];
  const out: RuntimeArgs = { argv };
  let i = 0;
  // Global flags, up to the command.
  for (; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--') break;
    if (!a.startsWith('-')) break;
    const eq = a.indexOf('=');
    const name = eq > 0 ? a.slice(0, eq) : a;
    let value: string | undefined;
    if (eq > 0) value = a.slice(eq + 1);
    else if (GLOBAL_WITH_VALUE.has(name)) {
      if (i + 1 >= args.length) {
        out.problem = `${name} needs a value`;
        if (name !== OURS) argv.push(a);
        continue;
      }
      value = args[++i];
    }
    if (name === OURS) {
      if (!value) out.problem = `${OURS} needs a path`;
      else out.slaacConfig = value;
      continue;
    }
    argv.push(a);
    if (eq < 0 && value !== undefined) argv.push(value);
  }
  if (i >= args.length) return out;
  const command = args[i] as string;
  out.command = command;
  argv.push(...args.slice(i));
  if (command !== 'create' && command !== 'run') return out;
  for (let j = i + 1; j < args.length; j++) {
    const a = args[j] as string;
    if (a === '--') break;
    if (a === '--bundle' || a === '-b') {
      if (j + 1 < args.length) out.bundle = args[++j];
      else out.problem = `${a} needs a value`;
    } else if (a.startsWith('--bundle=') || a.startsWith('-b=')) out.bundle = a.slice(a.indexOf('=') + 1);
    else if (a === '--preserve-fds' || a.startsWith('--preserve-fds=')) {
      const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : args[++j];
      if (v !== undefined && /^\d{1,4}$/.test(v)) out.preserveFds = Number(v);
    } else if (CREATE_WITH_VALUE.has(a)) j++;
  }
  return out;
}
