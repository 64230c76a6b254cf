/**
 * The entry of the oci-slaac-hook bundle: a hook stage (and `__complete-dad`) loads only the stage
 * code (hooks/stage-main.ts); every other command the whole executable (hooks/oci-slaac-hook.ts).
 * `require`, not `import`: esbuild then initialises the command modules only when this branch runs.
 */
import { isStageCommand, runStageCommand } from './stage-main';

const [first, ...others] = process.argv.slice(2);
if (first !== undefined && isStageCommand(first)) void runStageCommand(first, others);
else require('./oci-slaac-hook');
