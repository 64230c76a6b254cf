/**
 * The OCI hook stages in the hook's own process, a thin front end over the pipeline's stages
 * (runtime/pipeline/stages.ts): createRuntime/prestart attach the container, poststop detaches it.
 * Rootless, the agent's broker does the work (hooks/rootless.ts); a root hook whose agent takes
 * the whole stage never gets here (hooks/delegate.ts).
 */
import { loadConfigFile } from '../runtime/system/config-file';
import { loadSecret } from '../runtime/system/host-secret';
import type { Logger } from '../runtime/system/log';
import { parseState, type HookStage } from '../runtime/wire/oci/spec';
import { hookAgent, systemDeps } from '../runtime/pipeline/deps';
import { completeOptimisticDad } from '../runtime/pipeline/optimistic';
import { checkStageStatus, runStage } from '../runtime/pipeline/stages';
import { spawnSelf } from './background';
import { runRootlessStage, unprivileged } from './rootless';

/** Internal command: finish optimistic DAD for a container in the background. */
export const COMPLETE_DAD_COMMAND = '__complete-dad';

/** `stateDir`: where the record is, when not config.toml's (a CNI network config may name its own). */
export async function completeDadInBackground(id: string, configPath: string | undefined, log: Logger, stateDir?: string): Promise<void> {
  log.forContainer(id);
  const cfg = { ...loadConfigFile(configPath), ...(stateDir ? { state_dir: stateDir } : {}) };
  const deps = systemDeps(cfg.state_dir, log);
  try {
    await completeOptimisticDad({ id, config: cfg, secret: loadSecret(cfg), deps });
  } finally {
    deps.host.close();
  }
}

export async function runHookStage(stage: HookStage, stdin: string, configPath: string | undefined, log: Logger): Promise<void> {
  const state = parseState(stdin);
  log.forContainer(state.id);
  const base = loadConfigFile(configPath);
  checkStageStatus(stage, state);
  // Rootless podman: no power over the host's NIC — the agent's broker does the attach.
  if (unprivileged()) return runRootlessStage(stage, state, base, log);
  const agent = hookAgent(base.state_dir, log);
  const deps = systemDeps(base.state_dir, log, agent);
  try {
    await runStage(stage, state, base, deps, {
      configPath,
      // One turn of the event loop connects and sends the request.
      prefetchRas: (parent) => {
        agent.prefetchRas(parent);
        return new Promise<void>((resolve) => setImmediate(resolve));
      },
      // The agent looks after what it is told of (no agent: nothing to tell); optimistic DAD's rest
      // is its work when it answers, else a detached copy of ourselves does it.
      attached: async (record) => {
        await agent.register(state.id);
        if (record.addresses.some((a) => a.dad === 'optimistic') && !(await agent.completeDad(state.id))) {
          spawnSelf([COMPLETE_DAD_COMMAND, state.id, ...(configPath ? ['--config', configPath] : [])]);
        }
      },
    });
  } finally {
    deps.host.close();
  }
}
