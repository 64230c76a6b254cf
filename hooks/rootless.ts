/**
 * The hook without power over the host (rootless podman: uid 0 in the user's user namespace, in
 * the host's netns; or any uid but 0): it cannot make a link on the host's NIC nor read the host
 * secret, so it asks the agent's broker (agent/broker.ts) over `<state_dir>/rootless.sock`. It
 * opens the container's netns itself — with the user's own rights, as the user could — and sends
 * the descriptor; the broker's answer is what it prints and exits with. Poststop asks the broker to
 * withdraw.
 */
import * as fs from 'node:fs';
import { ANNOTATION_PREFIX, type HookConfig } from '../runtime/core/config';
import { POLICY_KEYS } from '../runtime/core/policy';
import { InputError, isErrno } from '../runtime/core/errors';
import { stableName } from '../runtime/system/container-name';
import type { Logger } from '../runtime/system/log';
import { seqpacketRequest } from '../runtime/system/seqpacket';
import { containerNetnsPath, NO_PID, readConfig, type HookStage, type OciState } from '../runtime/wire/oci/spec';
import {
  encodeRootless,
  MAX_ROOTLESS_ANSWER_BYTES,
  parseRootlessAnswer,
  refusal,
  rootlessSocketPath,
  type RootlessAnswer,
  type RootlessRequest,
} from '../runtime/wire/rootless-protocol';

/** The runtime's hook timeout is typically 30 s; the broker's attach is bounded by ra_timeout_ms and DAD well within it. */
const BROKER_TIMEOUT_MS = 28_000;

/**
 * No power over the host: a uid other than 0, or a user namespace other than the initial one
 * (whose uid_map is the one line "0 0 4294967295").
 */
export function unprivileged(uidMap = '/proc/self/uid_map'): boolean {
  if (process.getuid?.() !== 0) return true;
  try {
    return fs.readFileSync(uidMap, 'utf8').trim().split(/\s+/).join(' ') !== '0 0 4294967295';
  } catch {
    return true;
  }
}

async function ask(base: HookConfig, request: RootlessRequest, fds: number[]): Promise<RootlessAnswer> {
  const file = rootlessSocketPath(base.state_dir);
  let bytes: Buffer;
  try {
    bytes = await seqpacketRequest(file, encodeRootless(request), fds, { timeoutMs: BROKER_TIMEOUT_MS, maxAnswerBytes: MAX_ROOTLESS_ANSWER_BYTES });
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ECONNREFUSED')) {
      throw new Error(`no rootless broker at ${file}: the host's oci-slaac-hook agent must run with [rootless] enable = true`);
    }
    throw new Error(`rootless broker at ${file}: ${(err as Error).message}`);
  }
  const answer = parseRootlessAnswer(bytes);
  if (!answer.ok) throw new Error(`rootless broker at ${file}: ${answer.error}`);
  return answer.value;
}

export async function runRootlessStage(stage: HookStage, state: OciState, base: HookConfig, log: Logger): Promise<void> {
  if (stage === 'poststop') {
    const answer = await ask(base, { op: 'detach', id: state.id }, []);
    if (!answer.ok) {
      // The uniform refusal: nothing of this user's is attached under this id (never attached, or
      // withdrawn already) — at poststop, nothing to do.
      if (answer.error === refusal(state.id)) return log.info('rootless: nothing attached to withdraw');
      throw new Error(answer.error);
    }
    if (answer.op === 'detach') log.info(`rootless: withdrawn ${answer.withdrawn.join(' ') || '(nothing: a pod member)'}`);
    return;
  }

  const oci = readConfig(state.bundle);
  const annotations = { ...oci.annotations, ...state.annotations };
  if (annotations[`${ANNOTATION_PREFIX}enable`] === 'false' || (!base.enable && annotations[`${ANNOTATION_PREFIX}enable`] !== 'true')) {
    log.info('not enabled for this container (oci-slaac-hook.enable)');
    return;
  }
  const netnsPath = containerNetnsPath(oci.network, state.pid);
  if (netnsPath === undefined) {
    log.info('container shares the host network namespace: nothing to do');
    return;
  }
  // The broker checks the container's process against the netns: it needs the pid even for a path.
  if (!state.pid) throw new InputError(NO_PID);
  // A netns this user cannot open (another user's process, root's, pid 1, none) goes to the broker
  // as no descriptor at all: its answer — a refusal, or "quota" — is the one every other case gets.
  let fd: number | undefined;
  try {
    fd = fs.openSync(netnsPath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY);
  } catch {
    fd = undefined;
  }
  try {
    const name = stableName(state.id, state.bundle, annotations, oci.hostname).name;
    const request: RootlessRequest = { op: 'attach', id: state.id, pid: state.pid, name: name === state.id ? state.id.slice(0, 12) : name };
    const parent = annotations[`${ANNOTATION_PREFIX}parent`];
    const mode = annotations[`${ANNOTATION_PREFIX}mode`];
    if (parent !== undefined) request.parent = parent;
    const policy = Object.fromEntries(POLICY_KEYS.flatMap((k) => (annotations[`${ANNOTATION_PREFIX}${k}`] === undefined ? [] : [[k, annotations[`${ANNOTATION_PREFIX}${k}`]]])));
    if (Object.keys(policy).length > 0) request.policy = policy;
    if (mode === 'macvlan' || mode === 'ipvlan') request.mode = mode;
    else if (mode !== undefined) throw new InputError(`annotation ${ANNOTATION_PREFIX}mode must be "macvlan" or "ipvlan"`);
    const answer = await ask(base, request, fd === undefined ? [] : [fd]);
    if (!answer.ok) throw new InputError(answer.error);
    if (answer.op !== 'attach') throw new Error('rootless broker: answered an attach with a detach');
    const where = answer.joined ? `joined ${answer.joined.slice(0, 12)}: ` : '';
    log.info(`rootless: ${where}${answer.interface} ${answer.addresses.join(' ')} via ${answer.router} (name "${answer.name}"${answer.dns ? `, ${answer.dns}` : ''})`);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
