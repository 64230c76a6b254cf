/**
 * The second half of optimistic DAD (RFC 4429): the hook installed the container's addresses
 * before probing them and returned; this runs afterwards, in its own process, and probes them.
 * A unique address is marked verified. A duplicate is withdrawn at once (with its host side, from
 * the ledger) and replaced by the next RFC 7217 candidate, this time proven unique before it is
 * installed (RFC 7217 §6) by the same operation attach uses; its DNS records follow.
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
import { Ledger, type RecordSink } from '../ops/ledger';
import { findMarkedLink } from '../ops/link';
import { withdrawAddress } from '../ops/undo';
import { addressKeys, ndVantage } from './attach';
import { contextFor, type PipelineDeps } from './deps';
import { reopenNetns } from './detach';

/** Saves only while the record exists: a poststop that came meanwhile has the last word. */
function whileAttached(deps: PipelineDeps, id: string): RecordSink {
  return { write: (record, opts) => (deps.store.read(id) ? deps.store.write(record, opts) : undefined) };
}

/** Resolves with the updated record (undefined when the container is gone or was never ours). */
export async function completeOptimisticDad(opts: { id: string; config: HookConfig; secret: Buffer; deps: PipelineDeps }): Promise<ContainerRecord | undefined> {
  const { config: cfg, deps } = opts;
  const { log, host } = deps;
  const record = deps.store.read(opts.id);
  if (!record || record.phase !== 'attached') return undefined; // stopped already, or not ours
  const container = reopenNetns(deps, record);
  if (!container) return undefined;
  try {
    const ledger = new Ledger(whileAttached(deps, record.id), record);
    const ctx = contextFor(deps, ledger, container);
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
      withdrawAddress(ctx, address);
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
          install: (x) => {
            const now = deps.clock() / 1000;
            installAddress(ctx, place, x, length, { validLifetime: remainingSeconds(lt.validUntil, now), preferredLifetime: remainingSeconds(lt.preferredUntil, now) });
          },
          withdraw: () => undefined,
        });
        log.info(`optimistic DAD: replaced by ${formatIPv6(claim.address)}`);
        return { ...a, address: formatIPv6(claim.address), dadCounter: start + claim.dadCounter, dad: 'verified' };
      } catch (err) {
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
    record.linkLocalDad = linkLocal?.verdict === 'duplicate' ? 'optimistic' : 'verified';
    record.addresses = addresses.filter((a): a is AddressRecord => a !== undefined);
    // Now proven: announce them (the hook could not while they were optimistic, RFC 4429 §3.3).
    try {
      nd.announce([...(!onParent && linkLocal?.verdict === 'unique' ? [parseIPv6(record.linkLocal)] : []), ...record.addresses.map((a) => parseIPv6(a.address))]);
    } catch (err) {
      log.warn(`unsolicited NA on ${nd.vantage.ifname}: ${(err as Error).message}`);
    }
    log.info(`optimistic DAD done: ${record.addresses.map((a) => `${a.address} ${a.dad}`).join(', ') || 'no address left'}`);
    if (record.dns) record.dns = await republish(record.dns, record.addresses.map((a) => a.address));
    ledger.save({ durable: true });
    return record;
  } finally {
    container.close();
  }
}
