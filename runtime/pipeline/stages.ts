/**
 * The hook stages' work, shared by every front end that runs them: the hook process itself
 * (hooks/hook.ts) and the agent when a hook hands its stage over (agent/delegate.ts).
 * createRuntime/prestart attach the container; poststop detaches it by container id from its
 * ledger — podman gives no pid there, and the netns may already be gone.
 *
 * What differs between the front ends is who looks after a container once it is attached (the
 * hook tells the agent or starts a background copy of itself; the agent adopts it) and where the
 * RA cache comes from: `StageHost`.
 */
import { ANNOTATION_PREFIX, applyAnnotations, validateForAttach, type HookConfig } from '../core/config';
import { describePolicy, POLICY_KEYS, policyFor } from '../core/policy';
import { InputError } from '../core/errors';
import type { ContainerRecord } from '../core/record';
import { dockerFacts, stableName } from '../system/container-name';
import { loadSecret } from '../system/host-secret';
import { resolvConfTarget, writeResolvConf, type ResolvConfTarget } from '../system/resolv-conf';
import { containerNetnsPath, readConfig, type HookStage, type OciState } from '../wire/oci/spec';
import { admit } from './admit';
import { attach } from './attach';
import type { PipelineDeps } from './deps';
import { detach } from './detach';

const ATTACH_STATUSES = ['creating', 'created'];

/** A stage called at the wrong time (a createRuntime hook configured as poststop) is refused first. */
export function checkStageStatus(stage: HookStage, state: OciState): void {
  if (stage !== 'poststop' && !ATTACH_STATUSES.includes(state.status)) {
    throw new InputError(`${stage} hook called with container status "${state.status}" (expected ${ATTACH_STATUSES.join(' or ')}): check the hook's stage`);
  }
}

export interface StageHost {
  /** The config file's path, for messages ("set parent in …"). */
  configPath: string | undefined;
  /** Before admission, when the RA cache is on: ask for `parent`'s cached RAs early. */
  prefetchRas?(parent: string): Promise<void>;
  /** The record is written, attached: hand it to whoever looks after it (the agent, a background DAD). */
  attached(record: ContainerRecord): Promise<void>;
}

/** A hook stage with its OCI state, after checkStageStatus and the front end's own checks (rootless). */
export async function runStage(stage: HookStage, state: OciState, base: HookConfig, deps: PipelineDeps, host: StageHost): Promise<void> {
  if (stage === 'poststop') await poststop(state, base, deps);
  else await createRuntime(state, base, deps, host);
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

async function createRuntime(state: OciState, base: HookConfig, deps: PipelineDeps, host: StageHost): Promise<void> {
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
    log.info(`no parent interface configured (set "parent" in ${host.configPath ?? 'config.toml'}): the container starts without an address of ours`);
    return;
  }
  validateForAttach(cfg);
  // The RFC 7217 secret (secret_file's, or the host's own): a bad one refuses the container here.
  const secret = loadSecret(cfg);
  // Who may reach it: a bad value refuses the container here, before anything is made.
  const policy = policyFor(cfg.policy, annotations);
  // resolv_conf = "ra": the file the container will see, checked before anything is made.
  const resolvConf = cfg.resolv_conf === 'ra' ? resolvConfTarget(state.bundle, oci) : undefined;
  // The agent's RA cache, asked early: the answer comes in while admission and the link's making
  // run (synchronous netlink).
  if (cfg.ra_cache_max_age_ms > 0 && host.prefetchRas) await host.prefetchRas(cfg.parent);
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
  // Looked after from now on: by the agent, or (no agent) optimistic DAD's rest by a background copy of the hook.
  await host.attached(record);
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
