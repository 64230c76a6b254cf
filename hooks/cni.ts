/**
 * The CNI plugin's verbs (containernetworking/cni SPEC.md 1.0 and 1.1), a thin front end over the
 * same pipeline and ledger as the OCI hook: one function per verb, as the reference plugins have it.
 *
 * - ADD attaches (pipeline/attach.ts) and answers only once the address is usable: our DAD has
 *   said unique (strict), or the address is in use with DAD to follow (optimistic). Standalone,
 *   the interface is CNI_IFNAME; chained after a plugin that made CNI_IFNAME (a bridge's eth0),
 *   ours is the next free ethN beside it, appended to the previous result.
 * - DEL detaches by the attachment's record; none (never added, deleted already, netns gone):
 *   success, as DEL must be.
 * - CHECK compares the live kernel and DNS with the ledger, as `oci-slaac-hook check` does.
 * - GC (1.1) detaches every attachment of this network the runtime no longer lists.
 * - STATUS (1.1) says whether the parent hears a router advertising a prefix for SLAAC.
 *
 * The attachment's record id is `<CNI_CONTAINERID>+<CNI_IFNAME>` (a container may be in several
 * networks; "+" is no character of a CNI id): `status` and `check` take it. Its stable name — and
 * so its RFC 7217 address, MAC and DNS label — is the pod's from CNI_ARGS (system/container-name.ts
 * cniName).
 */
import { applySettings, isSettingKey, validateForAttach, type HookConfig } from '../runtime/core/config';
import { InputError, oneLine, shown } from '../runtime/core/errors';
import { formatIPv6 } from '../runtime/core/ipv6';
import { unusableReason } from '../runtime/core/plan';
import { policyFor, policySection } from '../runtime/core/policy';
import type { ContainerRecord } from '../runtime/core/record';
import { loadConfigFile } from '../runtime/system/config-file';
import { cniName } from '../runtime/system/container-name';
import { loadSecret } from '../runtime/system/host-secret';
import type { Logger } from '../runtime/system/log';
import { solicitRouter } from '../runtime/system/nd/solicit';
import { admit } from '../runtime/pipeline/admit';
import { attach } from '../runtime/pipeline/attach';
import { check } from '../runtime/pipeline/check';
import { hookAgent, systemDeps, type PipelineDeps } from '../runtime/pipeline/deps';
import { detach } from '../runtime/pipeline/detach';
import { cachedDiscovery } from '../runtime/pipeline/ra-cache';
import { attachmentResult } from '../runtime/wire/cni/result';
import { CNI_ERRORS, encodeError, encodeVersion, errorVersion, parseCniEnv, parseNetConf, type CniEnv, type CniError, type NetConf } from '../runtime/wire/cni/spec';
import { spawnSelf } from './background';
import { COMPLETE_DAD_COMMAND } from './hook';

/** What the plugin prints on stdout and exits with. */
export interface CniOutcome {
  exitCode: number;
  stdout: string;
}

/** A failure with its CNI code: the error result the runtime reads. */
export class CniFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** STATUS: how long to listen for a router when the agent has no RA of the parent cached. */
const STATUS_RA_TIMEOUT_MS = 4000;

export const cniRecordId = (containerId: string, ifname: string): string => `${containerId}+${ifname}`;

/** One invocation: the environment and stdin in, the answer out. Never throws. */
export async function runCni(env: Readonly<Record<string, string | undefined>>, stdin: string, log: Logger): Promise<CniOutcome> {
  const version = errorVersion(stdin);
  const failed = (error: CniError): CniOutcome => {
    log.error(`CNI ${env.CNI_COMMAND ?? '?'}: ${error.msg}`);
    return { exitCode: 1, stdout: encodeError(version, error) };
  };
  const parsedEnv = parseCniEnv(env);
  if (!parsedEnv.ok) return failed(parsedEnv.error);
  const e = parsedEnv.value;
  if (e.command === 'VERSION') return { exitCode: 0, stdout: encodeVersion(stdin) };
  const parsed = parseNetConf(stdin, e.command);
  if (!parsed.ok) return failed(parsed.error);
  const conf = parsed.value;
  if (e.containerId) log.forContainer(cniRecordId(e.containerId, e.ifname ?? ''));
  try {
    const cfg = settings(conf);
    switch (e.command) {
      case 'ADD':
        return { exitCode: 0, stdout: JSON.stringify(await add(e, conf, cfg, log)) };
      case 'DEL':
        await del(e, cfg, log);
        return { exitCode: 0, stdout: '' };
      case 'CHECK':
        await checkAttachment(e, cfg, log);
        return { exitCode: 0, stdout: '' };
      case 'GC':
        await gc(conf, cfg, log);
        return { exitCode: 0, stdout: '' };
      case 'STATUS':
        await status(cfg, log);
        return { exitCode: 0, stdout: '' };
    }
  } catch (err) {
    if (err instanceof CniFailure) return failed({ code: err.code, msg: err.message });
    return failed({ code: err instanceof InputError ? CNI_ERRORS.invalidConfig : CNI_ERRORS.failed, msg: oneLine(err) });
  }
}

/** config.toml (the network config's `config`, else the usual one), then the network config's own keys on top. */
function settings(conf: NetConf): HookConfig {
  const where = `network ${conf.name}`;
  const { policy, ...rest } = conf.settings;
  for (const [key, value] of Object.entries(rest)) {
    if (!isSettingKey(key)) throw new CniFailure(CNI_ERRORS.unsupportedField, `${where}: unsupported field ${shown(key)}: ${shown(value)} (keys are config.toml's top-level keys and "policy"; other tables go in the config.toml named by "config")`);
  }
  const cfg = applySettings(loadConfigFile(conf.configFile), rest, where);
  // "policy": config.toml's [policy] table for this network's attachments (who may reach them).
  if (policy !== undefined) {
    if (typeof policy !== 'object' || policy === null || Array.isArray(policy)) throw new InputError(`${where}: "policy" must be an object ([policy]'s keys)`);
    cfg.policy = policySection(policy as Record<string, unknown>, `${where} "policy"`);
  }
  return cfg;
}

/** The deps of one invocation, closed after `fn`. */
async function withDeps<T>(cfg: HookConfig, log: Logger, fn: (deps: PipelineDeps) => Promise<T>): Promise<T> {
  const deps = systemDeps(cfg.state_dir, log);
  try {
    return await fn(deps);
  } finally {
    deps.host.close();
  }
}

async function add(e: CniEnv, conf: NetConf, base: HookConfig, log: Logger): Promise<object> {
  const containerId = e.containerId ?? '';
  const ifname = e.ifname ?? '';
  const netnsPath = e.netns ?? '';
  const cfg = validateForAttach({ ...base });
  if (cfg.resolv_conf === 'ra') log.info('resolv_conf = "ra" is the hook\'s: with CNI the runtime writes resolv.conf from the result\'s dns');
  const policy = policyFor(cfg.policy, {});
  const secret = loadSecret(cfg);
  const name = cniName(containerId, e.args.K8S_POD_NAME, e.args.K8S_POD_NAMESPACE);
  const id = cniRecordId(containerId, ifname);
  // Chained after a plugin that made CNI_IFNAME: ours goes beside it.
  const chained = conf.prevResult?.interfaces?.some((i) => i.name === ifname && i.sandbox) ?? false;
  const agent = hookAgent(cfg.state_dir, log);
  return withDeps(cfg, log, async (deps) => {
    const admission = await admit({ id, name: name.name, netnsPath, alongside: true }, deps);
    // ADD again without DEL (SPEC.md: a runtime should not): the attachment as it is.
    if (admission.kind === 'attached') return attachmentResult(admission.record, netnsPath, conf.cniVersion, conf.prevResult);
    if (admission.kind !== 'attach') throw new Error('internal: a CNI attachment never joins another');
    const cni = { network: conf.name, containerId, ifname };
    const record = await attach({ id, name, netnsPath, config: cfg, annotations: {}, secret, container: admission.container, policy, ...(chained ? {} : { ifname }), cni }, deps);
    await agent.register(id);
    if (record.addresses.some((a) => a.dad === 'optimistic') && !(await agent.completeDad(id))) {
      spawnSelf([COMPLETE_DAD_COMMAND, id, ...(conf.configFile ? ['--config', conf.configFile] : []), '--state-dir', cfg.state_dir]);
    }
    log.info(`${record.interface.name} ${record.addresses.map((a) => `${a.address}/${a.prefixLength}`).join(' ')} via ${record.router.address} (network ${conf.name}, name "${record.name}", total ${record.timings.totalMs} ms)`);
    return attachmentResult(record, netnsPath, conf.cniVersion, conf.prevResult);
  });
}

async function del(e: CniEnv, cfg: HookConfig, log: Logger): Promise<void> {
  const id = cniRecordId(e.containerId ?? '', e.ifname ?? '');
  await withDeps(cfg, log, async (deps) => {
    const record = deps.store.read(id);
    if (!record) return; // never added, or deleted already: DEL is idempotent
    await withdraw(record, deps);
  });
}

/** Detach one attachment; a DNS withdrawal that failed keeps the record (the agent retries) and is error 11. */
async function withdraw(record: ContainerRecord, deps: PipelineDeps): Promise<void> {
  const result = await detach(record, deps);
  for (const f of result.failures) deps.log.warn(`withdraw: ${f}`);
  if (!result.removed) throw new CniFailure(CNI_ERRORS.tryAgain, `${record.id}: ${result.failures.join('; ') || 'not all undone'} (kept in the state dir; DEL again, or the agent retries)`);
  deps.log.info(`withdrawn ${record.addresses.map((a) => a.address).join(' ')} (link ${result.link})`);
}

async function checkAttachment(e: CniEnv, cfg: HookConfig, log: Logger): Promise<void> {
  const id = cniRecordId(e.containerId ?? '', e.ifname ?? '');
  await withDeps(cfg, log, async (deps) => {
    const record = deps.store.read(id);
    if (!record) throw new CniFailure(CNI_ERRORS.unknownContainer, `no attachment ${id} in ${cfg.state_dir}`);
    const differences = await check(record, deps);
    if (differences.length > 0) throw new CniFailure(CNI_ERRORS.differs, differences.map((d) => d.text).join('; '));
  });
}

async function gc(conf: NetConf, cfg: HookConfig, log: Logger): Promise<void> {
  if (!conf.validAttachments) throw new CniFailure(CNI_ERRORS.invalidConfig, 'GC needs "cni.dev/valid-attachments" (the attachments to keep): nothing removed');
  const valid = new Set(conf.validAttachments.map((a) => cniRecordId(a.containerID, a.ifname)));
  await withDeps(cfg, log, async (deps) => {
    const failures: string[] = [];
    for (const record of deps.store.list()) {
      if (record.cni?.network !== conf.name || valid.has(record.id)) continue;
      log.info(`GC: attachment ${record.id} is not among the runtime's valid attachments of ${conf.name}`);
      try {
        await withdraw(record, deps);
      } catch (err) {
        failures.push(oneLine(err));
      }
    }
    if (failures.length > 0) throw new CniFailure(CNI_ERRORS.tryAgain, `GC: ${failures.join('; ')}`);
  });
}

/**
 * Ready when the parent hears a router with a prefix for SLAAC: the agent's fresh cached RAs (as
 * attach takes them, pipeline/ra-cache.ts), else one solicited now.
 */
async function status(base: HookConfig, log: Logger): Promise<void> {
  let cfg: HookConfig;
  try {
    cfg = validateForAttach({ ...base });
  } catch (err) {
    throw new CniFailure(CNI_ERRORS.notAvailable, oneLine(err));
  }
  const found = await withDeps(cfg, log, async (deps) => {
    // Existing attachments on this parent lose their router too when none is heard: 51, not 50.
    const unavailable = (why: string): CniFailure => {
      const attached = deps.store.list().filter((r) => r.parent === cfg.parent && r.cni).length;
      return attached > 0 ? new CniFailure(CNI_ERRORS.limitedConnectivity, `${why} (${attached} attachment${attached === 1 ? '' : 's'} on ${cfg.parent} may lose their router)`) : new CniFailure(CNI_ERRORS.notAvailable, why);
    };
    let heard = await cachedDiscovery(deps, cfg);
    if (!heard) {
      try {
        heard = await solicitRouter(cfg.parent, undefined, Math.min(cfg.ra_timeout_ms, STATUS_RA_TIMEOUT_MS));
      } catch (err) {
        throw unavailable(`parent ${cfg.parent}: ${oneLine(err)}`);
      }
    }
    const why = unusableReason(heard.advertisement);
    if (why !== undefined) throw unavailable(`parent ${cfg.parent}: router ${formatIPv6(heard.router)}: ${why}`);
    return heard;
  });
  log.info(`STATUS: ${cfg.parent} hears router ${formatIPv6(found.router)} with a prefix for SLAAC`);
}
