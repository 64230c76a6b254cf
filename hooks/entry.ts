/**
 * The entry of the hook stages' bundle, dist/oci-slaac-hook.stage.js (scripts/bundle.js), which
 * hooks/launch.js runs for `createRuntime|prestart|poststop` and `__complete-dad`: the stage code
 * alone (hooks/stage-main.ts) — not the operator commands, the agent, doctor or install, which a
 * hook starting for every container would load for nothing. Anything else is refused here (the
 * executable's own bundle, oci-slaac-hook.main.js, runs every command, the stages too).
 */
import { isStageCommand, runStageCommand } from './stage-main';

const [first, ...others] = process.argv.slice(2);
if (first !== undefined && isStageCommand(first)) void runStageCommand(first, others);
else {
  process.stderr.write(`oci-slaac-hook: the stage bundle runs hook stages only, not ${JSON.stringify(first ?? '')}\n`);
  process.exitCode = 2;
}
