/**
 * The agent's control protocol on `<state_dir>/agent.sock` (a Unix stream socket, mode 0600; the
 * agent serves a peer only when SO_PEERCRED says uid 0): one request per connection, one JSON
 * object on one line each way, at most MAX_LINE bytes. The hook is the client
 * (system/agent-client.ts); when no agent answers within its short timeout it does everything
 * itself, as without an agent.
 */
import * as path from 'node:path';

/** Requests never exceed this (ids are at most 1024 characters); answers carrying RAs may be larger. */
export const MAX_REQUEST_BYTES = 4096;
export const MAX_ANSWER_BYTES = 1024 * 1024;

export const agentSocketPath = (stateDir: string): string => path.join(stateDir, 'agent.sock');

export type AgentRequest =
  /** The agent's cached RAs on this parent: every router's latest, if fresh (none stale: see config ra_cache_max_age_ms). */
  | { op: 'ra'; parent: string }
  /** The container's record was written (attached): the agent (re)reads it from the state store and looks after it. */
  | { op: 'register'; id: string }
  /** Finish optimistic DAD of this container (the agent does what the detached background process does without one). */
  | { op: 'complete-dad'; id: string }
  /** Liveness and counters, for tests and `status`. */
  | { op: 'ping' };

/** One RA as the agent heard it: the router's link-local, when (CLOCK_BOOTTIME ms), and the ICMPv6 message (base64), checksum already verified. */
export interface CachedRa {
  router: string;
  receivedAt: number;
  icmp: string;
}

export type AgentAnswer =
  | { ok: true; heard?: CachedRa[]; containers?: number; parents?: string[] }
  | { ok: false; error: string };
