/**
 * The OCI hook stages. createRuntime/prestart attach the container (a link on the parent NIC in
 * its netns, SLAAC, DAD, routes) and record it; poststop withdraws it by container id from our
 * own state — podman gives no pid there, and the netns may already be gone.
 */
import * as fs from 'node:fs';
import { isatty } from 'node:tty';
import { attachContainer, detachContainer } from '../runtime/pipeline/attach';
import { applyAnnotations, validateForAttach, type HookConfig } from '../runtime/core/config';
import { loadConfigFile } from '../runtime/system/config-file';
import { stableName } from '../runtime/system/container-name';
import { InputError, oneLine } from '../runtime/core/errors';
import { loadOrCreateHostSecret } from '../runtime/system/host-secret';
import type { Logger } from '../runtime/system/log';
import { parseState, readConfig, type HookStage, type OciState } from '../runtime/wire/oci/spec';
import { completeOptimisticDad } from '../runtime/pipeline/optimistic';
import { publishContainer, republish, stillPublished, withdraw } from '../runtime/ops/dns-records';
import { StateStore } from '../runtime/system/state-store';
import { spawnSelf } from './background';

/** Internal command: finish optimistic DAD for a container in the background. */
export const COMPLETE_DAD_COMMAND = '__complete-dad';

export async function completeDadInBackground(id: string, configPath: string | undefined, log: Logger): Promise<void> {
  log.forContainer(id);
  const cfg = loadConfigFile(configPath);
  const store = new StateStore(cfg.state_dir);
  const updated = await completeOptimisticDad({ id, store, config: cfg, secret: loadOrCreateHostSecret(), log });
  if (!updated) return;
  if (updated.dns) updated.dns = await republish(updated.dns, updated.addresses.map((a) => a.address));
  if (store.read(id)) store.write(updated); // not if poststop came meanwhile
}

export function readStdin(): string {
  // isatty(0), not process.stdin: that getter builds a stream (and a libuv handle) we never use.
  if (isatty(0)) throw new InputError('no OCI state on stdin (stdin is a terminal)');
  try {
    return fs.readFileSync(0, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') throw new InputError('no OCI state on stdin');
    throw err;
  }
}

const ATTACH_STATUSES = ['creating', 'created'];

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
    for (const w of result.warnings) log.warn(`withdraw: ${w}`);
    if (record.dns && stillPublished(record.dns)) {
      const dns = await withdraw(record.dns);
      if (stillPublished(dns)) {
        store.write({ ...record, dns }); // kept so that the next poststop retries
        throw new Error(`${dns.error ?? 'DNS withdrawal failed'} (records kept in ${base.state_dir}; run poststop again to retry)`);
      }
    }
    store.remove(state.id);
    log.info(`withdrawn ${record.addresses.map((a) => a.address).join(' ')}${record.dns ? ` and ${record.dns.name}` : ''} (link ${result.link})`);
    return;
  }

  if (!ATTACH_STATUSES.includes(state.status)) {
    throw new InputError(`${stage} hook called with container status "${state.status}" (expected ${ATTACH_STATUSES.join(' or ')}): check the hook's stage`);
  }
  await attach(state, base, configPath, store, log);
}

/**
 * An ipvlan mode belongs to the parent, not the slave: a new slave in another mode switches every
 * slave of that parent to it. Refuse rather than silently change the running containers' mode.
 */
function refuseIpvlanModeChange(cfg: HookConfig, store: StateStore): void {
  if (cfg.mode !== 'ipvlan') return;
  const others = store.list().filter((r) => r.parent === cfg.parent && r.interface.kind === 'ipvlan' && r.interface.mode !== cfg.ipvlan_mode);
  const first = others[0];
  if (first) {
    throw new InputError(
      `ipvlan_mode ${cfg.ipvlan_mode} refused: ${cfg.parent} already carries ipvlan ${first.interface.mode} containers (${others.map((r) => r.id).join(', ')}), and the mode is one per parent`,
    );
  }
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
  refuseIpvlanModeChange(cfg, store);
  const name = stableName(state.id, state.bundle, annotations);
  const record = await attachContainer({ id: state.id, name, netnsPath, config: cfg, secret: loadOrCreateHostSecret(), log });
  try {
    if (cfg.dns) record.dns = await publishContainer(cfg.dns, name.name, annotations, record.addresses.map((a) => a.address), log);
    try {
      store.write(record);
    } catch (err) {
      throw new Error(`cannot write state to ${cfg.state_dir}: ${oneLine(err)}`);
    }
  } catch (err) {
    if (record.dns) await withdraw(record.dns);
    detachContainer(record);
    throw err;
  }
  if (record.addresses.some((a) => a.dad === 'optimistic')) spawnSelf([COMPLETE_DAD_COMMAND, state.id, ...(configPath ? ['--config', configPath] : [])]);
  const addrs = record.addresses.map((a) => `${a.address}/${a.prefixLength}`).join(' ');
  log.info(`${record.interface.name} ${addrs} via ${record.router.address} (name "${record.name}", RA ${record.timings.raMs} ms, DAD ${record.timings.dadMs} ms, total ${record.timings.totalMs} ms)`);
}
