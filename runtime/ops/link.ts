/**
 * The container's link: a macvlan/ipvlan slave of the parent made directly inside the container's
 * netns under a passing name (`ip link add link PARENT name oshXXXX netns NS type macvlan mode M`),
 * then renamed and marked there in one message (`ip link set oshXXXX name eth0 alias
 * oci-slaac-hook:ID`: the kernel ignores an alias given at creation). The ledger records the
 * passing name and the mark before the link exists, so it is found whatever a killed process
 * managed to record.
 */
import { createHash, randomBytes } from 'node:crypto';
import { NetlinkError } from '../core/errors';
import type { SlaveSpec } from '../core/link-kinds';
import type { Effect } from '../core/record';
import type { Link } from '../system/kernel';
import { inside, type OpContext } from './context';

type LinkEffect = Extract<Effect, { kind: 'link' }>;

/**
 * The mark on every link we make for a container: `oci-slaac-hook:<id>`, or `oci-slaac-hook:#<sha256 of id>` for an id too long for
 * IFLA_IFALIAS (IFALIASZ 256 with its NUL: the kernel refuses more with ERANGE; runc takes ids of
 * any length).
 */
export const linkAlias = (id: string): string => {
  const plain = `oci-slaac-hook:${id}`;
  return Buffer.byteLength(plain) <= IFALIAS_MAX ? plain : `oci-slaac-hook:#${createHash('sha256').update(id).digest('hex')}`;
};
const IFALIAS_MAX = 254;

/** eth0, or the first free ethN when the netns already has one (e.g. podman's own eth0). */
export function freeInterfaceName(links: Link[]): string {
  const taken = new Set(links.map((l) => l.name));
  for (let n = 0; ; n++) if (!taken.has(`eth${n}`)) return `eth${n}`;
}

export function makeLink(ctx: OpContext, opts: { parent: Link; ifname: string; spec: SlaveSpec; mac?: Buffer }): Link {
  const container = inside(ctx);
  const { parent, ifname, spec } = opts;
  // Made under a name of its own, then renamed inside: kernel 6.1 refuses (EEXIST) a name the
  // host's namespace already has — and hosts have an eth0 — even when the link goes elsewhere.
  const madeAs = `osh${randomBytes(5).toString('hex')}`;
  const effect = ctx.ledger.intend<LinkEffect>({ kind: 'link', alias: linkAlias(ctx.ledger.record.id), madeAs, index: null, name: madeAs, parentIndex: parent.index, linkKind: spec.kind, mode: spec.mode });
  try {
    ctx.host.createSlave({ parentIndex: parent.index, name: madeAs, target: container.netns, spec, mac: opts.mac });
  } catch (err) {
    // Name the interface the container gets, not the passing one.
    if (err instanceof NetlinkError) throw new NetlinkError(`create ${spec.kind} ${ifname} (${spec.mode}) on ${parent.name}`, err.code, err.errno, err.extack);
    throw err;
  }
  const made = container.findLink(madeAs);
  if (!made) throw new Error(`${madeAs} vanished right after it was created`);
  container.setLink(made.index, { name: ifname, alias: effect.alias });
  // Saved with the next effect recorded: until then the passing name or the mark finds the link.
  effect.index = made.index;
  effect.name = ifname;
  return { ...made, name: ifname };
}

/**
 * The link an effect names, if it is still there: by its mark; unmarked, by the passing name (made,
 * not yet renamed) or, for a link an older hook made without a mark, by index and name.
 */
export function findMarkedLink(ctx: Pick<OpContext, 'container'>, effect: LinkEffect): Link | undefined {
  const unmarked = (l: Link): boolean => l.name === effect.madeAs || (effect.madeAs === '' && l.index === effect.index && l.name === effect.name);
  return ctx.container?.listLinks().find((l) => l.alias === effect.alias || (l.alias === undefined && unmarked(l)));
}

/** `ip link del`; a netns that is gone took the link with it. */
export function undoLink(ctx: OpContext, effect: LinkEffect): void {
  const link = findMarkedLink(ctx, effect);
  if (link) ctx.container?.deleteLink(link.index);
}
