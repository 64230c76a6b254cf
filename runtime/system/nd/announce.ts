/**
 * Unsolicited Neighbor Advertisement (RFC 4861 §7.2.6) for an address proven unique: Override set,
 * our link-layer address as TLLA, to all-nodes. A neighbour that cached the address on another MAC
 * (the same container name on another link kind, a restarted host) updates its entry at once
 * instead of sending into the void until its entry fails. Never for an address still optimistic
 * (RFC 4429 §3.3: no Override from an Optimistic address).
 */
import { ALL_NODES, type IPv6 } from '../../core/ipv6';
import type { NdSocket } from './socket';

export function announceAddress(sock: NdSocket, address: IPv6, mac: Buffer): void {
  sock.send({ type: 'neighbor-advertisement', router: false, solicited: false, override: true, target: address, options: [{ type: 'target-link-layer-address', address: mac }] }, address, ALL_NODES);
}
