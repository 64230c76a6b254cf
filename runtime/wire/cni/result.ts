/**
 * An attachment as a CNI result (SPEC.md §5 "ADD Success"): what the orchestrator shows as the
 * container's address (`podman inspect`, a pod's IPs). Chained after another plugin, the previous
 * result passes through with ours appended: its interfaces keep their indexes.
 */
import type { ContainerRecord } from '../../core/record';
import type { CniIp, CniResult, CniRoute, CniVersion } from './spec';

export function attachmentResult(record: ContainerRecord, sandbox: string, version: CniVersion, prev?: CniResult): CniResult {
  const interfaces = [...(prev?.interfaces ?? [])];
  const index = interfaces.length;
  // The MAC is required by podman ("invalid MAC address" without one), an ipvlan slave's too (its parent's).
  interfaces.push({ name: record.interface.name, mac: record.interface.mac, ...(version !== '1.0.0' && record.mtu !== null ? { mtu: record.mtu } : {}), sandbox });
  // Every global address, with its prefix length; the gateway is the default router (a link-local address).
  const ips: CniIp[] = [...(prev?.ips ?? []), ...record.addresses.map((a) => ({ address: `${a.address}/${a.prefixLength}`, gateway: record.router.address, interface: index }))];
  const routes: CniRoute[] = [...(prev?.routes ?? [])];
  for (const e of record.ledger) if (e.kind === 'route') routes.push({ dst: e.destination, gw: e.gateway });
  const prevDns = prev?.dns ?? {};
  const nameservers = [...(prevDns.nameservers ?? []), ...record.rdnss.filter((s) => !(prevDns.nameservers ?? []).includes(s))];
  const search = [...(prevDns.search ?? []), ...record.dnssl.filter((s) => !(prevDns.search ?? []).includes(s))];
  const dns = { ...prevDns, ...(nameservers.length ? { nameservers } : {}), ...(search.length ? { search } : {}) };
  return { ...prev, cniVersion: version, interfaces, ips, routes, dns };
}
