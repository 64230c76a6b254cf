/**
 * The OCI hook stages. createRuntime/prestart attach the container (a link on the parent NIC in
 * its netns, SLAAC, DAD, routes) and record it; poststop withdraws it by container id from our
 * own state — podman gives no pid there, and the netns may already be gone.
 */
import * as fs from 'node:fs';
import { attachContainer, detachContainer } from '../runtime/attach';
import { applyAnnotations, DNS_DEFAULTS, loadConfigFile, validateForAttach, type DnsConfig, type HookConfig } from '../runtime/config';
import { stableName } from '../runtime/container-name';
import { InputError, oneLine } from '../runtime/errors';
import { loadOrCreateHostSecret } from '../runtime/host-secret';
import type { Logger } from '../runtime/log';
import { parseState, readConfig, type HookStage, type OciState } from '../runtime/oci/spec';
import { completeOptimisticDad } from '../runtime/optimistic';
import { dnsLabel, planDns, publish, stillPublished, withdraw, type DnsState } from '../runtime/publish';
import { StateStore } from '../runtime/state';
import { spawnSelf } from './background';

/** Internal command: finish optimistic DAD for a container in the background. */
export const COMPLETE_DAD_COMMAND = '__complete-dad';

export async function completeDadInBackground(id: string, configPath: string | undefined, log: Logger): Promise<void> {
  log.forContainer(id);
  const cfg = loadConfigFile(configPath);
  const store = new StateStore(cfg.state_dir);
  const updated = await completeOptimisticDad({ id, store, config: cfg, secret: loadOrCreateHostSecret(), log });
  if (!updated) return;
  // A replaced address is republished: the old records withdrawn, the new ones added.
  const addresses = updated.addresses.map((a) => a.address);
  if (updated.dns && cfg.dns && updated.dns.records.some((r) => r.type === 'AAAA' && !addresses.includes(r.data))) {
    const old = await withdraw(updated.dns, cfg.dns.timeout_ms);
    const plan = planDns(cfg.dns, updated.dns.label, addresses);
    updated.dns = stillPublished(old) ? old : await publish(plan, cfg.dns.timeout_ms);
  }
  if (store.read(id)) store.write(updated); // not if poststop came meanwhile
}

export function readStdin(): string {
  if (process.stdin.isTTY) throw new InputError('no OCI state on stdin (stdin is a terminal)');
  try {
    return fs.readFileSync(0, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') throw new InputError('no OCI state on stdin');
    throw err;
  }
}

const ATTACH_STATUSES = ['creating', 'created'];

/**
 * Publish the container's records. With dns.required a failure fails the container (what was
 * published is withdrawn by the caller's undo); without, the container starts and the state
 * says the record is pending.
 */
async function publishOrUndo(dns: DnsConfig, stableName: string, annotations: Record<string, string>, addresses: string[], log: Logger): Promise<DnsState | undefined> {
  let plan: DnsState;
  try {
    plan = planDns(dns, dnsLabel(stableName, annotations), addresses);
  } catch (err) {
    if (dns.required) throw err;
    log.warn(`DNS: ${oneLine(err)}; the container starts unpublished`);
    return undefined;
  }
  const published = await publish(plan, dns.timeout_ms);
  if (published.status === 'published') {
    log.info(`DNS: published ${published.name} (${published.records.map((r) => r.type).join(', ')})`);
  } else if (dns.required) {
    if (stillPublished(published)) await withdraw(published, dns.timeout_ms);
    throw new Error(published.error ?? 'DNS update failed');
  } else {
    log.warn(`DNS: ${published.error ?? 'update failed'}; the container starts, its record is pending`);
  }
  return published;
}

export async function runHookStage(stage: HookStage, stdin: string, configPath: string | undefined, log: Logger): Promise<void> {
  const state = parseState(stdin);
  log.forContainer(state.id);
  const base = loadConfigFile(configPath);
  const store = new StateStore(base.state_dir);

  if (stage === 'poststop') {
    if (state.status !== 'stopped') log.warn(`poststop with status "${state.status}"`);
    const record = store.read(state.id);
    if (!record) return; // never attached (or already withdrawn): nothing to do
    const result = detachContainer(record);
    if (stillPublished(record.dns) && record.dns) {
      const dns = await withdraw(record.dns, base.dns?.timeout_ms ?? DNS_DEFAULTS.timeout_ms);
      if (stillPublished(dns)) {
        store.write({ ...record, dns }); // kept so that the next poststop retries
        throw new Error(`${dns.error ?? 'DNS withdrawal failed'} (records kept in ${base.state_dir}; run poststop again to retry)`);
      }
    }
    store.remove(state.id);
    log.info(`withdrawn ${record.addresses.map((a) => a.address).join(' ')}${record.dns ? ` and ${record.dns.name}` : ''} (link ${result})`);
    return;
  }

  if (!ATTACH_STATUSES.includes(state.status)) {
    throw new InputError(`${stage} hook called with container status "${state.status}" (expected ${ATTACH_STATUSES.join(' or ')}): check the hook's stage`);
  }
  await attach(state, base, configPath, store, log);
}

async function attach(state: OciState, base: HookConfig, configPath: string | undefined, store: StateStore, log: Logger): Promise<void> {
  const oci = readConfig(state.bundle);
  const annotations = { ...oci.annotations, ...state.annotations };
  const cfg = applyAnnotations(base, annotations);
  if (!cfg.enable) {
    log.info('not enabled for this container (oci-slaac-hook.enable=false)');
    return;
  }
  if (oci.network.kind === 'host') {
    log.info('container shares the host network namespace: nothing to do');
    return;
  }
  let netnsPath: string;
  if (oci.network.kind === 'path') netnsPath = oci.network.path;
  else if (state.pid) netnsPath = `/proc/${state.pid}/ns/net`;
  else throw new InputError('OCI state has no pid: cannot find the container\'s network namespace');

  if (store.read(state.id)) {
    log.info('already attached (both createRuntime and prestart configured?): nothing to do');
    return;
  }
  validateForAttach(cfg);
  const name = stableName(state.id, state.bundle, annotations);
  const record = await attachContainer({ id: state.id, name, netnsPath, config: cfg, secret: loadOrCreateHostSecret(), log });
  try {
    if (cfg.dns) record.dns = await publishOrUndo(cfg.dns, name.name, annotations, record.addresses.map((a) => a.address), log);
    try {
      store.write(record);
    } catch (err) {
      throw new Error(`cannot write state to ${cfg.state_dir}: ${oneLine(err)}`);
    }
  } catch (err) {
    if (record.dns) await withdraw(record.dns, cfg.dns?.timeout_ms ?? DNS_DEFAULTS.timeout_ms);
    detachContainer(record);
    throw err;
  }
  if (record.addresses.some((a) => a.dad === 'optimistic')) spawnSelf([COMPLETE_DAD_COMMAND, state.id, ...(configPath ? ['--config', configPath] : [])]);
  const addrs = record.addresses.map((a) => `${a.address}/${a.prefixLength}`).join(' ');
  log.info(`${record.interface.name} ${addrs} via ${record.router.address} (name "${record.name}", RA ${record.timings.raMs} ms, DAD ${record.timings.dadMs} ms, total ${record.timings.totalMs} ms)`);
}
