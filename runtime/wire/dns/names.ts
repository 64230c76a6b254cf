/**
 * DNS names for containers: the label a container is published under, and the ip6.arpa name of
 * an address (RFC 3596 §2.5).
 *
 * A container name becomes a label by these rules and no others: ASCII letters are lower-cased;
 * '_', '.' and runs of them or of '-' become one '-'; leading and trailing '-' are dropped. The
 * result must be 1 to 63 of [a-z0-9-] (RFC 1123 host label). Anything else — a character outside
 * ASCII letters, digits, '-', '_', '.', an empty result, more than 63 characters — is an error:
 * a name that cannot be made valid is not guessed at. A name given explicitly for DNS (the
 * oci-slaac-hook.dns_name annotation) is only lower-cased: it must already be a valid label.
 */
import { InputError } from '../../core/errors';
import { normalizeName } from './wire';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export function isValidLabel(label: string): boolean {
  return LABEL.test(label);
}

/** A container name made into a DNS label, or an InputError saying why it cannot be. */
export function labelFromContainerName(name: string): string {
  const bad = /[^A-Za-z0-9_.-]/.exec(name);
  if (bad) throw new InputError(`container name ${JSON.stringify(name)} cannot be made a DNS label: ${JSON.stringify(bad[0])} is not allowed (set the oci-slaac-hook.dns_name annotation)`);
  const label = name.toLowerCase().replace(/[-_.]+/g, '-').replace(/^-+|-+$/g, '');
  if (!isValidLabel(label)) {
    throw new InputError(`container name ${JSON.stringify(name)} cannot be made a DNS label: ${label ? `${label.length} characters, at most 63` : 'nothing left of it'} (set the oci-slaac-hook.dns_name annotation)`);
  }
  return label;
}

/** An explicitly given DNS label: lower-cased, otherwise taken as it is or refused. */
export function explicitLabel(value: string, what: string): string {
  const label = value.toLowerCase();
  if (!isValidLabel(label)) throw new InputError(`${what}: ${JSON.stringify(value)} is not a valid DNS label (1-63 of a-z, 0-9, '-', not starting or ending with '-')`);
  return label;
}

/** A zone name as configured, in canonical form (the wire codec's rules); InputError naming `what`. */
export function normalizeZone(zone: string, what: string): string {
  let z: string;
  try {
    z = normalizeName(zone);
  } catch {
    z = '';
  }
  if (!z) throw new InputError(`${what}: ${JSON.stringify(zone)} is not a valid zone name`);
  return z;
}

/** The PTR owner name of an IPv6 address: 32 nibbles, least significant first, under ip6.arpa. */
export function reverseName(address: Buffer): string {
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    const b = address[i] ?? 0;
    nibbles.push((b & 0x0f).toString(16), (b >> 4).toString(16));
  }
  return `${nibbles.join('.')}.ip6.arpa`;
}
