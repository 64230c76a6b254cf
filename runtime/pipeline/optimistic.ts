/**
 * The second half of optimistic DAD (RFC 4429): the hook installed the container's addresses
 * before probing them and returned; this runs afterwards, in its own process, and probes them.
 * A unique address is marked verified. A duplicate is withdrawn at once and replaced by the next
 * RFC 7217 candidate, this time proven unique before it is installed (RFC 7217 §6).
 */
import { addressCandidate, announceAll, installAddress, ndVantage, probeOn } from './attach';
import type { HookConfig } from '../core/config';
import { claimAddress, DEFAULT_RETRANS_MS } from '../core/dad';
import { IDGEN_RETRIES } from '../core/iid';
import { formatIPv6, parseIPv6, parsePrefix, type IPv6 } from '../core/ipv6';
import type { Logger } from '../system/log';
import type { PrefixInformation } from '../core/nd-types';
import { NetnsHandle } from '../system/netns';
import { deleteAddress } from '../system/rtnetlink/addresses';
import { fromLifetime as seconds } from '../core/lifetime';
import { addAddressReach, removeAddressReach } from '../ops/l3-reach';
import { addHostRoute, removeHostRoute } from '../ops/host-link';
import { findLink, listLinks } from '../system/rtnetlink/links';
import { RtnetlinkSocket } from '../system/rtnetlink/socket';
import type { AddressRecord, ContainerRecord } from '../core/record';
import type { StateStore } from '../system/state-store';

/** Resolves with the updated record (undefined when the container is gone or was never ours). */
export async function completeOptimisticDad(opts: { id: string; store: StateStore; config: HookConfig; secret: Buffer; log: Logger }): Promise<ContainerRecord | undefined> {
  const { store, config: cfg, log } = opts;
  const record = store.read(opts.id);
  if (!record) return undefined; // stopped already
  const netns = NetnsHandle.open(record.netns.path);
  const inside = RtnetlinkSocket.open(netns);
  const host = RtnetlinkSocket.open();
  try {
    if (netns.id !== record.netns.id) return undefined;
    const link = listLinks(inside).find((l) => l.index === record.interface.index && l.name === record.interface.name);
    if (!link) return undefined;
    // ipvlan l3/l3s: probe from the parent, as attach did (the slave hears no multicast).
    const parent = record.l3 ? findLink(host, record.parent) : undefined;
    if (record.l3 && parent?.index !== record.l3.parentIndex) return undefined;
    const vantage = ndVantage(parent, netns, link);
    const probe = probeOn(vantage, cfg.dad_transmits);
    const hl = record.hostLink ? { index: record.hostLink.index, linkLocal: parseIPv6(record.hostLink.linkLocal) } : undefined;
    /** The address and what the host holds for it (l3 reach, host route) come and go together. */
    const withdrawOne = (address: IPv6, prefixLength: number): void => {
      if (hl) removeHostRoute(host, hl, address);
      if (record.l3) removeAddressReach(host, record.l3, address);
      deleteAddress(inside, { index: link.index, address, prefixLength });
    };
    const installOne = (pi: PrefixInformation, address: IPv6): void => {
      installAddress(inside, link.index, pi, record.raAt, address);
      if (record.l3) addAddressReach(host, record.l3, address);
      if (hl) addHostRoute(host, hl, address);
    };
    const retransMs = record.retransMs || DEFAULT_RETRANS_MS;

    const checkOne = async (a: AddressRecord): Promise<AddressRecord | undefined> => {
      if (a.dad !== 'optimistic') return a;
      const address = parseIPv6(a.address);
      const first = await probe(address, retransMs);
      if (first.verdict === 'unique') return { ...a, dad: 'verified' };
      withdrawOne(address, a.prefixLength);
      log.warn(`optimistic DAD: ${a.address} is in use (${first.evidence ?? 'duplicate'}): withdrawn`);
      if (a.dadCounter === null) {
        log.error(`static address ${a.address} is a duplicate: the container has no address on ${a.prefix}`);
        return undefined;
      }
      const { address: prefix, length } = parsePrefix(a.prefix);
      const pi: PrefixInformation = { prefix, prefixLength: length, onLink: true, autonomous: true, routerAddress: false, validLifetime: seconds(a.validLifetime), preferredLifetime: seconds(a.preferredLifetime) };
      const candidate = addressCandidate(cfg, record.name, opts.secret, prefix, length);
      const start = a.dadCounter + 1;
      try {
        const claim = await claimAddress({
          candidate: (n) => candidate(start + n),
          probe: (x) => probe(x, retransMs),
          mode: 'strict',
          retries: IDGEN_RETRIES - 1,
          install: (x) => installOne(pi, x),
          withdraw: () => undefined,
        });
        log.info(`optimistic DAD: replaced by ${formatIPv6(claim.address)}`);
        return { ...a, address: formatIPv6(claim.address), dadCounter: start + claim.dadCounter, dad: 'verified' };
      } catch (err) {
        log.error(`optimistic DAD: no unique address on ${a.prefix}: ${(err as Error).message}`);
        return undefined;
      }
    };

    const [linkLocal, ...addresses] = await Promise.all([
      record.linkLocalDad === 'optimistic' ? probe(parseIPv6(record.linkLocal), retransMs) : undefined,
      ...record.addresses.map(checkOne),
    ]);
    if (linkLocal?.verdict === 'duplicate') {
      log.error(`link-local address ${record.linkLocal} is in use on the link (${linkLocal.evidence ?? 'duplicate'})`);
    }
    const updated: ContainerRecord = {
      ...record,
      linkLocalDad: linkLocal?.verdict === 'duplicate' ? 'optimistic' : 'verified',
      addresses: addresses.filter((a): a is AddressRecord => a !== undefined),
    };
    // Now proven: announce them (the hook could not while they were optimistic, RFC 4429 §3.3).
    announceAll(vantage, [...(!parent && linkLocal?.verdict === 'unique' ? [parseIPv6(record.linkLocal)] : []), ...updated.addresses.map((a) => parseIPv6(a.address))], log);
    log.info(`optimistic DAD done: ${updated.addresses.map((a) => `${a.address} ${a.dad}`).join(', ') || 'no address left'}`);
    return updated;
  } finally {
    host.close();
    inside.close();
    netns.close();
  }
}
