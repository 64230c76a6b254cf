/**
 * Network namespace identities as records keep them (system/netns.ts makes them): plain strings,
 * compared here.
 */

/**
 * True when two netns ids name the same namespace. Ids are "dev:inode:cookie"; a record written
 * before cookies were kept has "dev:inode" and matches on those alone.
 */
export function sameNetnsId(recorded: string, now: string): boolean {
  if (recorded === now) return true;
  const [dev, ino, cookie] = recorded.split(':');
  return cookie === undefined && now.startsWith(`${dev}:${ino}:`);
}

/**
 * True when two ids name one namespace *now* (both held open or alive): "dev:inode" decides, as
 * no two live namespaces share an inode.
 */
export function sameLiveNetns(a: string, b: string): boolean {
  const [da, ia] = a.split(':');
  const [db, ib] = b.split(':');
  return da === db && ia === ib;
}

/** A netns id's "dev:inode": the part every id of one namespace shares, whether or not it has a cookie. */
export const netnsInode = (id: string): string => id.split(':').slice(0, 2).join(':');

/** What admission asks of the other records: those of one name, and those of one netns. */
export interface RelatedQuery {
  name: string;
  netnsId: string;
}

/** True when `r` is one `q` asks for: the same name, or (by dev:inode) the same netns. */
export const isRelated = (r: { name: string; netns: { id: string } }, q: RelatedQuery): boolean =>
  r.name === q.name || netnsInode(r.netns.id) === netnsInode(q.netnsId);
