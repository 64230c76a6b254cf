/**
 * The hook stages as a process: `createRuntime|prestart|poststop [--config PATH]` (the OCI state on
 * stdin) and the internal `__complete-dad ID [--config PATH]`. hooks/entry.ts runs them without
 * loading the operator commands, the agent, doctor or install: a hook starts for every container,
 * and code it never runs still costs start-up time.
 *
 * Every failure is one logged line (stderr and syslog) and exit status 1.
 */
import { parseArgs } from 'node:util';
import { oneLine } from '../runtime/core/errors';
import { Logger } from '../runtime/system/log';
import { readStdinState } from '../runtime/wire/oci/files';
import { HOOK_STAGES, isContainerId, type HookStage } from '../runtime/wire/oci/spec';
import { COMPLETE_DAD_COMMAND, completeDadInBackground, runHookStage } from './hook';

/** `first` (argv[2]) names a hook stage or the internal background command. */
export function isStageCommand(first: string | undefined): boolean {
  return first === COMPLETE_DAD_COMMAND || (first !== undefined && (HOOK_STAGES as readonly string[]).includes(first));
}

/** Run hook-side work with a logger; an error becomes one logged line and exit status 1. */
async function logged(work: (log: Logger) => Promise<void>): Promise<void> {
  const log = new Logger('');
  try {
    await work(log);
    process.exitCode = 0;
  } catch (err) {
    log.error(oneLine(err));
    process.exitCode = 1;
  } finally {
    log.close();
  }
}

const configOption = (args: string[]): string | undefined => parseArgs({ args, options: { config: { type: 'string' } }, strict: true }).values.config;

/** The stage or `__complete-dad` named by `first` (isStageCommand), with the arguments after it. */
export function runStageCommand(first: string, others: string[]): Promise<void> {
  if (first === COMPLETE_DAD_COMMAND) {
    // `__complete-dad ID [--config PATH]` (hooks/hook.ts spawns it): the id is the first argument,
    // taken as it is — an id may start with "-" (runc allows "-x"), so it is never parsed as an option.
    return logged((log) => {
      const [id = '', ...rest] = others;
      if (!isContainerId(id)) throw new Error(`${COMPLETE_DAD_COMMAND}: the first argument must be a container id`);
      return completeDadInBackground(id, configOption(rest), log);
    });
  }
  return logged((log) => runHookStage(first as HookStage, readStdinState(), configOption(others), log));
}
