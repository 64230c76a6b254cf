/**
 * Who has power over a namespace: the uid owning the user namespace, directly below ours, that
 * its chain of user namespaces runs through. A rootless podman container's netns is owned by the
 * user namespace podman made for its user (owner: that user); a container that made user
 * namespaces of its own nests them below, and the walk goes up through them. Whoever owns that top
 * namespace holds every capability in it and in all below it (user_namespaces(7)); the owner of a
 * namespace further down does not, unless they are also the top one's — so the top one decides
 * (lxc-user-nic's CVE-2017-5985: acting on a netns the caller held no privilege over).
 *
 * A namespace owned by our own user namespace (the host's, root's containers', `ip netns add`) has
 * no owner but root; one outside ours (NS_GET_PARENT says EPERM) none at all.
 */
import * as fs from 'node:fs';
import { isErrno } from '../core/errors';
import { native } from './native';
import { nsInodeId } from './netns';

/** User namespaces nest at most 32 deep (kernel/user_namespace.c); one more for ours. */
const MAX_DEPTH = 33;

export type NamespaceOwner = { ok: true; uid: number; depth: number } | { ok: false; why: string };

const idOf = (fd: number): string => nsInodeId(fs.fstatSync(fd));

/** The uid with power over the namespace file `fd` (a netns), or why there is none but root. */
export function namespaceOwner(fd: number, ours = ownUserNamespace()): NamespaceOwner {
  const addon = native();
  const held: number[] = [];
  try {
    let user: number;
    try {
      user = addon.nsUserns(fd);
    } catch (err) {
      return { ok: false, why: `its owning user namespace cannot be read (${(err as Error).message})` };
    }
    held.push(user);
    if (idOf(user) === ours) return { ok: false, why: "it belongs to the host's user namespace" };
    for (let depth = 1; depth <= MAX_DEPTH; depth++) {
      let parent: number;
      try {
        parent = addon.nsParent(user);
      } catch (err) {
        if (isErrno(err, 'EPERM')) return { ok: false, why: 'its user namespace is outside ours' };
        throw err;
      }
      held.push(parent);
      if (idOf(parent) === ours) return { ok: true, uid: addon.nsOwnerUid(user), depth };
      user = parent;
    }
    return { ok: false, why: `its user namespaces nest deeper than ${MAX_DEPTH}` };
  } finally {
    for (const h of held) addon.close(h);
  }
}

/** Our own user namespace's id ("dev:inode"), read once per caller. */
export function ownUserNamespace(): string {
  const fd = fs.openSync('/proc/self/ns/user', 'r');
  try {
    return idOf(fd);
  } finally {
    fs.closeSync(fd);
  }
}
