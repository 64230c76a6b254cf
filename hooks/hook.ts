/**
 * The OCI hook stages, a thin front end over the pipeline. createRuntime/prestart attach the
 * container (runtime/pipeline/attach.ts); poststop detaches it by container id from its ledger —
 * podman gives no pid there, and the netns may already be gone.
 */
import { ANNOTATION_PREFIX, applyAnnotations, validateForAttach, type HookConfig } from '../runtime/core/config';
import { describePolicy, POLICY_KEYS, policyFor } from '../runtime/core/policy';
import { InputError } from '../runtime/core/errors';
import { loadConfigFile } from '../runtime/system/config-file';
import { dockerFacts, stableName } from '../runtime/system/container-name';
import { loadSecret } from '../runtime/system/host-secret';
import type { Logger } from '../runtime/system/log';
import { containerNetnsPath, parseState, readConfig, type HookStage, type OciState } from '../runtime/wire/oci/spec';
import { admit } from '../runtime/pipeline/admit';
import { attach } from '../runtime/pipeline/attach';
import { hookAgent, systemDeps, type PipelineDeps } from '../runtime/pipeline/deps';
import type { AgentClient } from '../runtime/system/agent-client';
import { resolvConfTarget, writeResolvConf, type ResolvConfTarget } from '../runtime/system/resolv-conf';
import type { ContainerRecord } from '../runtime/core/record';
import { detach } from '../runtime/pipeline/detach';
import { completeOptimisticDad } from '../runtime/pipeline/optimistic';
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

const ATTACH_STATUSES = ['creating', 'created'];

export async function runHookStage(stage: HookStage, stdin: string, configPath: string | undefined, log: Logger): Promise<void> {
  const state = parseState(stdin);
  log.forContainer(state.id);
  const base = loadConfigFile(configPath);
  if (stage !== 'poststop' && !ATTACH_STATUSES.includes(state.status)) {
    throw new InputError(`${stage} hook called with container status "${state.status}" (expected ${ATTACH_STATUSES.join(' or ')}): check the hook's stage`);
  }
  // Rootless podman: no power over the host's NIC — the agent's broker does the attach.
  if (unprivileged()) return runRootlessStage(stage, state, base, log);
  const agent = hookAgent(base.state_dir, log);
  const deps = systemDeps(base.state_dir, log, agent);
  try {
    if (stage === 'poststop') await poststop(state, base, deps);
    else await createRuntime(state, base, configPath, deps, agent);
  } finally {
    deps.host.close();
  }
}

async function poststop(state: OciState, base: HookConfig, deps: PipelineDeps): Promise<void> {
  const { log } = deps;
  if (state.status !== 'stopped') log.warn(`poststop with status "${state.status}"`);
  const record = deps.store.read(state.id);
  if (!record) return; // never attached (or already withdrawn): nothing to do
  if (record.member) {
    deps.store.remove(record.id);
    log.info(`left the network namespace of container ${record.member.owner} (its addresses stay with it)`);
    return;
  }
  const result = await detach(record, deps);
  if (record.dns && record.ledger.some((e) => e.kind === 'dns')) {
    throw new Error(`${record.dns.error ?? 'DNS withdrawal failed'} (records kept in ${base.state_dir}; run poststop again to retry)`);
  }
  for (const f of result.failures) log.warn(`withdraw: ${f}`);
  const what = [...record.addresses.map((a) => a.address), ...(record.dns ? [`and ${record.dns.name}`] : [])];
  log.info(`withdrawn ${what.length ? `${what.join(' ')} ` : ''}(link ${result.link})`);
}

async function createRuntime(state: OciState, base: HookConfig, configPath: string | undefined, deps: PipelineDeps, agent: AgentClient): Promise<void> {
  const { log } = deps;
  const oci = readConfig(state.bundle);
  // A Docker container's `oci-slaac-hook.*` labels act as annotations (annotations win).
  const docker = dockerFacts(state.id, oci.hostnameSource);
  const annotations = { ...docker?.labels, ...oci.annotations, ...state.annotations };
  const cfg = applyAnnotations(base, annotations);
  if (!cfg.enable) {
    log.info('not enabled for this container (oci-slaac-hook.enable=false)');
    return;
  }
  const netnsPath = containerNetnsPath(oci.network, state.pid);
  if (netnsPath === undefined) {
    log.info('container shares the host network namespace: nothing to do');
    return;
  }

  // Installed but not configured yet (install.sh's config.toml names no parent): the hooks.d files
  // fire for every container, and none must be refused for it — each starts without an address of
  // ours, and the log says why. A container that asks by annotation is refused as ever (above).
  if (!cfg.parent) {
    log.info(`no parent interface configured (set "parent" in ${configPath ?? 'config.toml'}): the container starts without an address of ours`);
    return;
  }
  validateForAttach(cfg);
  // The RFC 7217 secret (secret_file's, or the host's own): a bad one refuses the container here.
  const secret = loadSecret(cfg);
  // Who may reach it: a bad value refuses the container here, before anything is made.
  const policy = policyFor(cfg.policy, annotations);
  // resolv_conf = "ra": the file the container will see, checked before anything is made.
  const resolvConf = cfg.resolv_conf === 'ra' ? resolvConfTarget(state.bundle, oci) : undefined;
  // The agent's RA cache, asked early: one turn of the event loop connects and sends the request,
  // and the answer comes in while admission and the link's making run (synchronous netlink).
  if (cfg.ra_cache_max_age_ms > 0) {
    agent.prefetchRas(cfg.parent);
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const name = stableName(state.id, state.bundle, annotations, oci.hostname, docker?.name);
  const admission = await admit({ id: state.id, name: name.name, netnsPath, pid: state.pid }, deps);
  if (admission.kind === 'attached') {
    const { cni } = admission.record;
    log.info(cni ? `attached by the CNI plugin (network ${cni.network}, ${cni.ifname}): nothing to do` : 'already attached (both createRuntime and prestart configured?): nothing to do');
    return;
  }
  if (admission.kind === 'joined') {
    const { owner, record } = admission;
    // A member has a resolv.conf of its own (a pod's containers each get one): the owner's RA's
    // servers go into it too — the owner's file is not the member's to name.
    if (resolvConf) await writeResolver(record, resolvConf, deps);
    else if (record.resolvConf !== undefined) {
      delete record.resolvConf;
      deps.store.write(record, { durable: true });
    }
    if (POLICY_KEYS.some((k) => annotations[`${ANNOTATION_PREFIX}${k}`] !== undefined)) log.warn(`policy annotations of a pod member are not applied: the netns's firewall is ${owner.id}'s (${describePolicy(owner.policy)})`);
    log.info(`joined the network namespace of container ${owner.id} (a pod): ${owner.interface.name} ${owner.addresses.map((a) => `${a.address}/${a.prefixLength}`).join(' ')} (name "${owner.name}"; withdrawn when ${owner.id} stops)`);
    return;
  }
  const record = await attach({ id: state.id, name, netnsPath, config: cfg, annotations, secret, pid: state.pid, container: admission.container, policy }, deps);
  if (resolvConf) await writeResolver(record, resolvConf, deps);
  // The agent looks after what it is told of (no agent: nothing to tell); optimistic DAD's rest is
  // its work when it answers, else a detached copy of ourselves does it.
  await agent.register(state.id);
  if (record.addresses.some((a) => a.dad === 'optimistic') && !(await agent.completeDad(state.id))) {
    spawnSelf([COMPLETE_DAD_COMMAND, state.id, ...(configPath ? ['--config', configPath] : [])]);
  }
  const addrs = record.addresses.map((a) => `${a.address}/${a.prefixLength}`).join(' ');
  log.info(`${record.interface.name} ${addrs} via ${record.router.address} (name "${record.name}", RA ${record.timings.raMs} ms, DAD ${record.timings.dadMs} ms, total ${record.timings.totalMs} ms)`);
}

/**
 * resolv_conf = "ra": the RA's servers and search list into the container's /etc/resolv.conf, its
 * path kept in the record (the agent rewrites it as the RA changes). A failure undoes the attach:
 * the container is refused with nothing left. An RA with neither RDNSS nor DNSSL leaves it alone.
 */
async function writeResolver(record: ContainerRecord, target: ResolvConfTarget, deps: PipelineDeps): Promise<void> {
  if (record.rdnss.length === 0 && record.dnssl.length === 0) {
    deps.log.info(`resolv_conf = "ra": the RA has no DNS server or search list: ${target.file} left as it is`);
    return;
  }
  try {
    writeResolvConf(target.file, record.rdnss, record.dnssl, { replace: target.how === 'replace' });
    record.resolvConf = target.file;
    deps.store.write(record, { durable: true });
  } catch (err) {
    const undone = await detach(record, deps);
    for (const f of undone.failures) deps.log.warn(`cleanup after failure: ${f}`);
    throw err;
  }
}
