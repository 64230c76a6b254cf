/**
 * The second half of optimistic DAD (RFC 4429): the hook installed the container's addresses
 * before probing them and returned; this runs afterwards, in its own process, and probes them.
 * A unique address is marked verified. A duplicate is withdrawn at once (with its host side, from
 * the ledger) and replaced by the next RFC 7217 candidate, this time proven unique before it is
 * installed (RFC 7217 §6) by the same operation attach uses; its DNS records follow.
 *
 * This process may outlive the container: it holds the container's netns open (an fd keeps a
 * netns alive after the runtime has let it go), and poststop may run while it probes. So it changes
 * nothing — no address installed or withdrawn, no DNS update, no record saved — unless, under the
 * container's lock (which poststop's detach holds while it undoes and removes the record), the
 * record still exists, is still the attach this process started from (same attach id, same netns
 * identity, the netns it holds) and nobody else changed its ledger or DNS state meanwhile. Probing
 * needs no lock: a probe changes nothing.
 */
import type { HookConfig } from '../core/config';
import { claimAddress, type DadResult } from '../core/dad';
import { settleAll } from '../core/errors';
import { IDGEN_RETRIES } from '../core/iid';
import { formatIPv6, parseIPv6, parsePrefix } from '../core/ipv6';
import { fromLifetime } from '../core/lifetime';
import { needsHostReach } from '../core/link-kinds';
import { addressCandidate } from '../core/plan';
import type { AddressRecord, ContainerRecord } from '../core/record';
import { lifetimesFromPrefix, remainingSeconds } from '../core/slaac';
import { installAddress, type AddressPlace } from '../ops/address';
import { republish } from '../ops/dns-records';
import { Ledger } from '../ops/ledger';
import { findMarkedLink } from '../ops/link';
import { withdrawAddress } from '../ops/undo';
import { addressKeys, ndVantage } from './attach';
import { contextFor, type PipelineDeps } from './deps';
import { reopenNetns } from './detach';

/** The container was detached (or attached anew) since this process started: it stops, changing nothing. */
class Detached extends Error {}

/** What this process's changes are valid against: the attach it started from, as it last saved it. */
function sameAttach(now: ContainerRecord, ours: ContainerRecord): boolean {
  return (
    now.phase === 'attached' &&
    now.attachId === ours.attachId &&
    now.since === ours.since &&
    now.netns.id === ours.netns.id &&
    JSON.stringify(now.ledger) === JSON.stringify(ours.ledger) &&
    JSON.stringify(now.dns ?? null) === JSON.stringify(ours.dns ?? null)
  );
}

/** Resolves with the updated record (undefined when the container is gone or was never ours). */
export async function completeOptimisticDad(opts: { id: string; config: HookConfig; secret: Buffer; deps: PipelineDeps }): Promise<ContainerRecord | undefined> {
  const { deps } = opts;
  const { log, host } = deps;
  const record = deps.store.read(opts.id);
  if (!record || record.phase !== 'attached') return undefined; // stopped already, or not ours
  // The keys the attach used (a container's annotations may have set them), not config.toml's alone.
  const d = record.derivation;
  const cfg: HookConfig = d ? { ...opts.config, network_id: d.networkId, iid: d.iid, dad_transmits: d.dadTransmits } : opts.config;
  const container = reopenNetns(deps, record);
  if (!container) return undefined;
  try {
    const ledger = new Ledger(deps.store, record);
    const ctx = contextFor(deps, ledger, container);
    /**
     * Run one change under the container's lock, if the container is still this attach (else
     * Detached); whatever it did to the record is saved before the lock goes.
     */
    const guarded = <T>(fn: () => Promise<T> | T): Promise<T> =>
      deps.withContainerLock(record.id, async (lock) => {
        const now = deps.store.read(record.id);
        if (!now) lock.forget(); // the lock file poststop removed, made again by taking it
        if (!now || !sameAttach(now, record)) throw new Detached(`container ${record.id} was detached meanwhile`);
        try {
          return await fn();
        } finally {
          ledger.save();
        }
      });
    const linkEffect = record.ledger.find((e) => e.kind === 'link');
    const link = linkEffect?.kind === 'link' ? findMarkedLink(ctx, linkEffect) : undefined;
    if (!link) return undefined;
    // ipvlan l3/l3s: probe from the parent, as attach did (the slave hears no multicast).
    const onParent = needsHostReach(record.interface.kind, record.interface.mode);
    const parent = host.findLink(record.parent);
    if (!parent || (record.l3 && parent.index !== record.l3.parentIndex)) return undefined;
    const nd = deps.nd(ndVantage(onParent, host, parent, container, link), cfg.dad_transmits);
    const place: AddressPlace = { index: link.index, reach: record.l3, hostLink: record.hostLink && { index: record.hostLink.index, linkLocal: record.hostLink.linkLocal } };
    const keys = addressKeys(cfg, record.name, opts.secret);
    const retransMs = record.retransMs || 1000;

    const checkOne = async (a: AddressRecord): Promise<AddressRecord | undefined> => {
      if (a.dad !== 'optimistic') return a;
      const address = parseIPv6(a.address);
      const first = await nd.probe(address, retransMs);
      if (first.verdict === 'unique') return { ...a, dad: 'verified' };
      await guarded(() => withdrawAddress(ctx, address));
      log.warn(`optimistic DAD: ${a.address} is in use (${first.evidence ?? 'duplicate'}): withdrawn`);
      if (a.dadCounter === null) {
        log.error(`static address ${a.address} is a duplicate: the container has no address on ${a.prefix}`);
        return undefined;
      }
      const { address: prefix, length } = parsePrefix(a.prefix);
      const candidate = addressCandidate(keys, prefix, length);
      const start = a.dadCounter + 1;
      const lt = lifetimesFromPrefix({ validLifetime: fromLifetime(a.validLifetime), preferredLifetime: fromLifetime(a.preferredLifetime) }, record.raAt / 1000);
      try {
        const claim = await claimAddress({
          candidate: (n) => candidate(start + n),
          probe: (x) => nd.probe(x, retransMs),
          mode: 'strict',
          retries: IDGEN_RETRIES - 1,
          install: (x) =>
            guarded(() => {
              const now = deps.clock() / 1000;
              installAddress(ctx, place, x, length, { validLifetime: remainingSeconds(lt.validUntil, now), preferredLifetime: remainingSeconds(lt.preferredUntil, now) });
            }),
          withdraw: () => undefined,
        });
        log.info(`optimistic DAD: replaced by ${formatIPv6(claim.address)}`);
        return { ...a, address: formatIPv6(claim.address), dadCounter: start + claim.dadCounter, dad: 'verified' };
      } catch (err) {
        if (err instanceof Detached) throw err;
        log.error(`optimistic DAD: no unique address on ${a.prefix}: ${(err as Error).message}`);
        return undefined;
      }
    };

    // Every check settles before anything else happens: none may act after the handle closes.
    const [linkLocal, addresses] = await settleAll<unknown>([
      record.linkLocalDad === 'optimistic' ? nd.probe(parseIPv6(record.linkLocal), retransMs) : Promise.resolve(undefined),
      settleAll(record.addresses.map(checkOne)),
    ]) as [DadResult | undefined, (AddressRecord | undefined)[]];
    if (linkLocal?.verdict === 'duplicate') log.error(`link-local address ${record.linkLocal} is in use on the link (${linkLocal.evidence ?? 'duplicate'})`);
    await guarded(async () => {
      record.linkLocalDad = linkLocal?.verdict === 'duplicate' ? 'optimistic' : 'verified';
      record.addresses = addresses.filter((a): a is AddressRecord => a !== undefined);
      // Now proven: announce them (the hook could not while they were optimistic, RFC 4429 §3.3).
      try {
        nd.announce([...(!onParent && linkLocal?.verdict === 'unique' ? [parseIPv6(record.linkLocal)] : []), ...record.addresses.map((a) => parseIPv6(a.address))]);
      } catch (err) {
        log.warn(`unsolicited NA on ${nd.vantage.ifname}: ${(err as Error).message}`);
      }
      log.info(`optimistic DAD done: ${record.addresses.map((a) => `${a.address} ${a.dad}`).join(', ') || 'no address left'}`);
      // Under the lock throughout: a poststop waits for this update, then withdraws what it added.
      if (record.dns) {
        record.dns = await republish(record.dns, record.addresses.map((a) => a.address), (intent) => {
          record.dns = intent;
          ledger.save();
        });
      }
      ledger.save({ durable: true });
    });
    return record;
  } catch (err) {
    if (!(err instanceof Detached)) throw err;
    log.info(`optimistic DAD stopped: ${err.message}; nothing more is changed`);
    return undefined;
  } finally {
    container.close();
  }
}
