/**
 * The rootless broker: the agent attaches containers for users without root (rootless podman),
 * through the same pipeline and ledger as the hook, on `<state_dir>/rootless.sock`
 * (wire/rootless-protocol.ts). No setuid binary: a daemon that trusts nothing it is sent.
 *
 * Before it changes anything, an attach must pass, in order (the first failure is the answer):
 * 1. the caller (SO_PEERCRED's uid) has an account and a quota entry;
 * 2. the caller's live attachments are fewer than their quota (the caller's requests are
 *    serialized, so two at once cannot both pass) — first, so that a caller at their quota learns
 *    nothing else whatever they send;
 * 3. exactly one descriptor came, and it is a network namespace (fstatfs NSFS_MAGIC, NS_GET_NSTYPE);
 * 4. it is none of the host's (the agent's own, init's);
 * 5. the caller owns it: the top user namespace of its chain below ours is the caller's
 *    (system/ns-owner.ts) — so a netns the caller could not enter is never acted on;
 * 6. the pid given is a process in that very netns (/proc/<pid>/ns/net, same nsfs inode): by it
 *    the agent finds the netns again after a restart, and GC sees the container die;
 * 7. no record of that id belongs to someone else; no live container of another owner has the name;
 * 8. the parent and link kind asked for are ones [rootless] allows.
 * Failures of 1 and 3–7 give one uniform refusal (the broker is no oracle of others' containers or
 * namespaces); the precise cause goes to the log. Quota, 2, says "quota": users know their own.
 *
 * What the caller may name is narrow: the stable name (podman's name), published as
 * `<name>.<user>.<zone>` and keyed as `<name>.<user>`, so that no user can take another's name,
 * DNS record or RFC 7217 address. Nothing else of the container's config (annotations, iid,
 * network_id, DAD mode) is the caller's to set.
 *
 * A detach is authorised by the whole record: the caller's uid is its owner's, and the netns is
 * the record's (the descriptor, when the hook still has one) or the container's process is gone
 * (podman's poststop: no pid, the netns already gone) — never by an id or a name alone.
 */
import { ANNOTATION_PREFIX } from '../core/annotations';
import { policyFor } from '../core/policy';
import { rootlessModes, rootlessParents, quotaOf, type HookConfig } from '../core/config';
import { oneLine } from '../core/errors';
import { sameLiveNetns, sameNetnsId } from '../core/netns-id';
import type { ContainerRecord, RootlessOwner } from '../core/record';
import type { Logger } from '../system/log';
import { netnsIdOfFd, nsInodeId } from '../system/netns';
import { namespaceOwner, ownUserNamespace } from '../system/ns-owner';
import { SeqpacketServer, type SeqpacketMessage, type SocketPeer } from '../system/seqpacket';
import { accountOf, type Account } from '../system/users';
import { admit, hostNetnsOf, isLive } from '../pipeline/admit';
import { attach } from '../pipeline/attach';
import type { PipelineDeps } from '../pipeline/deps';
import { detach } from '../pipeline/detach';
import { explicitLabel, labelFromContainerName } from '../wire/dns/names';
import {
  encodeRootless,
  MAX_ROOTLESS_REQUEST_BYTES,
  parseRootlessRequest,
  refusal,
  rootlessSocketPath,
  type RootlessAnswer,
  type RootlessRequest,
} from '../wire/rootless-protocol';
import * as fs from 'node:fs';

/** Open connections per uid and in all; more are closed at accept, unread. */
const MAX_PER_UID = 8;
const MAX_CONNECTIONS = 128;
/** A connection that sends no request within this long is closed. */
const REQUEST_TIMEOUT_MS = 2000;
/** Requests of one uid waiting behind its running one; more are refused ("busy"). */
const MAX_QUEUED_PER_UID = 4;

export interface BrokerHost {
  config(): HookConfig;
  deps: PipelineDeps;
  secret(): Buffer;
  /** A container the broker attached: the agent looks after it from now on. */
  adopt(record: ContainerRecord): void;
  log: Logger;
}

/** A refusal whose precise cause is for the log only. */
class Refused extends Error {}

export class Broker {
  private server: SeqpacketServer | undefined;
  /** Per uid: the tail of its serialized requests, and how many wait. */
  private readonly queues = new Map<number, { tail: Promise<unknown>; waiting: number }>();
  private readonly ourUserns = ownUserNamespace();
  readonly counters = { attached: 0, joined: 0, detached: 0, refused: 0, quota: 0, failed: 0, busy: 0 };

  constructor(private readonly host: BrokerHost) {}

  get path(): string {
    return rootlessSocketPath(this.host.config().state_dir);
  }

  get connections(): number {
    return this.server?.connections ?? 0;
  }

  get serverCounters(): Record<string, number> {
    return { ...(this.server?.counters ?? {}) };
  }

  /**
   * Listen on rootless.sock, mode 0666. The state dir must let users reach it: 0711 (searchable,
   * not listable); records in it are 0600.
   */
  start(): void {
    const dir = this.host.config().state_dir;
    fs.chmodSync(dir, 0o711);
    const server = new SeqpacketServer({
      path: this.path,
      mode: 0o666,
      maxMessageBytes: MAX_ROOTLESS_REQUEST_BYTES,
      maxFds: 1,
      maxPerUid: MAX_PER_UID,
      maxConnections: MAX_CONNECTIONS,
      timeoutMs: REQUEST_TIMEOUT_MS,
      handle: (m, peer) => this.message(m, peer),
      onTimeout: () => encodeRootless({ ok: false, error: `no request within ${REQUEST_TIMEOUT_MS} ms` }),
      note: (line) => this.host.log.warn(line),
    });
    server.listen();
    this.server = server;
    this.host.log.info(`broker: listening on ${this.path} for rootless containers`);
  }

  stop(): void {
    this.server?.close();
    this.server = undefined;
  }

  private async message(m: SeqpacketMessage, peer: SocketPeer): Promise<Buffer> {
    return encodeRootless(await this.answer(m, peer));
  }

  /** The answer to one message: parsed, then served in turn with the caller's other requests. */
  private async answer(m: SeqpacketMessage, peer: SocketPeer): Promise<RootlessAnswer> {
    if (m.truncated) return { ok: false, error: `request longer than ${MAX_ROOTLESS_REQUEST_BYTES} bytes or with more than one descriptor` };
    const parsed = parseRootlessRequest(m.data);
    if (!parsed.ok) return { ok: false, error: parsed.error };
    const req = parsed.value;
    const q = this.queues.get(peer.uid) ?? { tail: Promise.resolve(), waiting: 0 };
    if (q.waiting >= MAX_QUEUED_PER_UID) {
      this.counters.busy++;
      return { ok: false, error: `container ${req.id}: the broker is busy with ${q.waiting} request(s) of yours: try again` };
    }
    q.waiting++;
    this.queues.set(peer.uid, q);
    const run = q.tail.then(() => this.serve(req, m.fds, peer));
    q.tail = run.catch(() => undefined);
    try {
      return await run;
    } finally {
      if (--q.waiting === 0 && this.queues.get(peer.uid) === q) this.queues.delete(peer.uid);
    }
  }

  private async serve(req: RootlessRequest, fds: number[], peer: SocketPeer): Promise<RootlessAnswer> {
    const who = `uid ${peer.uid} (pid ${peer.pid})`;
    try {
      return req.op === 'attach' ? await this.attach(req, fds, peer) : await this.detach(req, fds, peer);
    } catch (err) {
      if (err instanceof Refused) {
        this.counters.refused++;
        this.host.log.warn(`broker: ${req.op} of ${req.id} for ${who} refused: ${err.message}`);
        return { ok: false, error: refusal(req.id) };
      }
      this.counters.failed++;
      const line = oneLine(err);
      this.host.log.warn(`broker: ${req.op} of ${req.id} for ${who} failed: ${line}`);
      return { ok: false, error: `container ${req.id}: ${line}` };
    }
  }

  /** Check 1 of the header: the caller's account, with a quota. */
  private account(peer: SocketPeer, cfg: HookConfig): { account: Account; quota: number } {
    const account = accountOf(peer.uid);
    if (!account) throw new Refused(`uid ${peer.uid} has no account in /etc/passwd`);
    const quota = quotaOf(cfg.rootless, account.name, account.groups);
    if (quota === 0) throw new Refused(`${account.name} has no quota in [rootless] (quota 0)`);
    return { account, quota };
  }

  /** Checks 3–5 of the header: the netns the caller may act on, as an id. */
  private checkNetns(fds: number[], account: Account, peer: SocketPeer): string {
    const fd = fds[0];
    if (fd === undefined) throw new Refused('no network namespace descriptor came with the request (the hook could not open it)');
    const netnsId = netnsIdOfFd(fd);
    if (!netnsId) throw new Refused('the descriptor is not a network namespace');
    const hostNs = hostNetnsOf(netnsId, this.host.deps);
    if (hostNs) throw new Refused(`the network namespace is the host's (${hostNs.what})`);
    const owner = namespaceOwner(fd, this.ourUserns);
    if (!owner.ok) throw new Refused(`the network namespace is not ${account.name}'s: ${owner.why}`);
    if (owner.uid !== peer.uid) throw new Refused(`the network namespace is not ${account.name}'s: its user namespace belongs to uid ${owner.uid}`);
    return netnsId;
  }

  private async attach(req: Extract<RootlessRequest, { op: 'attach' }>, fds: number[], peer: SocketPeer): Promise<RootlessAnswer> {
    const base = this.host.config();
    const { deps } = this.host;
    const { account, quota } = this.account(peer, base);
    // Every record, read once: the quota's count and the name's holder both come from it.
    const records = deps.store.list();
    const mine = records.filter((r) => r.rootless?.uid === peer.uid && r.id !== req.id && !r.member && isLive(r, deps));
    if (mine.length >= quota) {
      this.counters.quota++;
      this.host.log.warn(`broker: attach of ${req.id} for ${account.name} refused: quota ${quota} reached (${mine.map((r) => r.id.slice(0, 12)).join(', ')})`);
      return { ok: false, error: `container ${req.id}: refused: quota (${account.name} may have ${quota} container${quota === 1 ? '' : 's'} attached at once, and has ${mine.length})` };
    }
    const netnsId = this.checkNetns(fds, account, peer);
    const netnsPath = `/proc/${req.pid}/ns/net`;
    if (!pidInNetns(req.pid, netnsId)) throw new Refused(`pid ${req.pid} is not a process in the network namespace given`);

    const owner: RootlessOwner = { uid: peer.uid, user: account.name };
    const own = records.find((r) => r.id === req.id);
    if (own && own.rootless?.uid !== peer.uid) throw new Refused(`a record of container ${req.id} exists and is not ${account.name}'s`);
    const name = `${req.name}.${account.name}`;
    const holder = records.find((r) => r.id !== req.id && r.name === name && r.rootless?.uid !== peer.uid && !r.member && isLive(r, deps));
    if (holder) throw new Refused(`name "${name}" is held by container ${holder.id} (not ${account.name}'s)`);

    const parents = rootlessParents(base);
    const modes = rootlessModes(base);
    const parent = req.parent ?? parents[0] ?? '';
    const mode = req.mode ?? modes[0] ?? 'macvlan';
    if (!parents.includes(parent)) throw new Error(`parent ${parent} is not one rootless containers may use (${parents.join(', ')})`);
    if (!modes.includes(mode)) throw new Error(`mode ${mode} is not one rootless containers may use (${modes.join(', ')})`);
    // The file's config, with the choices above; nothing else is the caller's.
    const cfg: HookConfig = { ...base, parent, mode, enable: true, iid: '', resolv_conf: 'keep' };
    // The caller's policy; networks only those [rootless] networks lists. Its errors are the caller's to see.
    const policy = policyFor(cfg.policy, Object.fromEntries(Object.entries(req.policy ?? {}).map(([k, v]) => [`${ANNOTATION_PREFIX}${k}`, v])), base.rootless.networks);
    // Errors about the caller's own name are theirs to see.
    const dnsLabel = cfg.dns ? `${labelFromContainerName(req.name)}.${explicitLabel(account.name, `user name ${account.name} (as a DNS label)`)}` : undefined;

    const admission = await admit({ id: req.id, name, netnsPath, pid: req.pid, expectNetnsId: netnsId, rootless: owner }, deps);
    if (admission.kind === 'attached') return attachAnswer(admission.record);
    if (admission.kind === 'joined') {
      this.counters.joined++;
      const o = admission.owner;
      this.host.log.info(`broker: ${req.id.slice(0, 12)} of ${account.name} joined the network namespace of ${o.id.slice(0, 12)}`);
      return attachAnswer(o, o.id);
    }
    const record = await attach(
      { id: req.id, name: { name, source: 'podman' }, netnsPath, config: cfg, annotations: {}, secret: this.host.secret(), pid: req.pid, container: admission.container, rootless: owner, policy, ...(dnsLabel ? { dnsLabel } : {}) },
      deps,
    );
    this.counters.attached++;
    this.host.adopt(record);
    const answer = attachAnswer(record);
    this.host.log.info(`broker: ${req.id.slice(0, 12)} of ${account.name}: ${record.interface.name} ${answer.addresses.join(' ')} on ${parent} (name "${name}"${record.dns ? `, ${record.dns.name}` : ''}, ${record.timings.totalMs} ms)`);
    return answer;
  }

  private async detach(req: Extract<RootlessRequest, { op: 'detach' }>, fds: number[], peer: SocketPeer): Promise<RootlessAnswer> {
    const { deps } = this.host;
    const record = deps.store.read(req.id);
    if (!record) throw new Refused(`no record of container ${req.id}`);
    if (record.rootless?.uid !== peer.uid) throw new Refused(`container ${req.id} is not uid ${peer.uid}'s (${record.rootless ? `uid ${record.rootless.uid}'s` : 'a root container'})`);
    const fd = fds[0];
    if (fd !== undefined) {
      const given = netnsIdOfFd(fd);
      if (!given || !sameNetnsId(given, record.netns.id)) throw new Refused(`the network namespace given is not container ${req.id}'s`);
    } else if (record.process && deps.processAlive(record.process)) {
      throw new Refused(`container ${req.id} still runs (pid ${record.process.pid}) and no network namespace came with the detach`);
    }
    if (record.member) {
      deps.store.remove(record.id);
      this.counters.detached++;
      return { ok: true, op: 'detach', withdrawn: [] };
    }
    const result = await detach(record, deps);
    if (!result.removed) throw new Error(`withdrawal incomplete: ${result.failures.join('; ')} (kept for a retry: the agent's GC retries it)`);
    this.counters.detached++;
    const withdrawn = [...record.addresses.map((a) => a.address), ...(record.dns ? [record.dns.name] : [])];
    this.host.log.info(`broker: ${req.id.slice(0, 12)} of ${record.rootless.user}: withdrawn ${withdrawn.join(' ')}`);
    return { ok: true, op: 'detach', withdrawn };
  }
}

/** The answer to an attach: the container's attachment (`joined`: the pod's owner whose netns it joined). */
function attachAnswer(r: ContainerRecord, joined?: string): Extract<RootlessAnswer, { op: 'attach' }> {
  return { ok: true, op: 'attach', interface: r.interface.name, addresses: r.addresses.map((a) => `${a.address}/${a.prefixLength}`), router: r.router.address, name: r.name, ...(joined ? { joined } : {}), ...(r.dns ? { dns: r.dns.name } : {}) };
}

/** /proc/<pid>/ns/net is the netns `netnsId` names (same nsfs device and inode). */
function pidInNetns(pid: number, netnsId: string): boolean {
  try {
    const st = fs.statSync(`/proc/${pid}/ns/net`);
    return sameLiveNetns(nsInodeId(st), netnsId);
  } catch {
    return false;
  }
}
