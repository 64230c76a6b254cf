/** The link kinds and modes we make, and interface names the kernel accepts: plain data, no I/O. */
import { InputError } from './errors';

export const MACVLAN_MODE_NAMES = ['private', 'vepa', 'bridge', 'passthru'] as const;
export const IPVLAN_MODE_NAMES = ['l2', 'l3', 'l3s'] as const;
export type MacvlanMode = (typeof MACVLAN_MODE_NAMES)[number];
export type IpvlanMode = (typeof IPVLAN_MODE_NAMES)[number];

export type SlaveSpec =
  | { kind: 'macvlan'; mode: MacvlanMode }
  | { kind: 'ipvlan'; mode: IpvlanMode; flags?: 'bridge' | 'private' | 'vepa' };

/** ipvlan l3/l3s slaves are IFF_NOARP and hear no multicast: ND runs on the parent, the host makes them reachable. */
export const needsHostReach = (kind: 'macvlan' | 'ipvlan', mode: string): boolean => kind === 'ipvlan' && mode !== 'l2';

/** IFNAMSIZ-1 characters the kernel's dev_valid_name() accepts — it refuses "/", ":" and white space — and none a path could misuse. */
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

export const isIfname = (name: string): boolean => IFNAME.test(name) && name !== '.' && name !== '..';

export function checkIfname(name: string): string {
  if (!isIfname(name)) throw new InputError(`invalid interface name: ${JSON.stringify(name)}`);
  return name;
}
