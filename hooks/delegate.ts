/**
 * The hook as a thin client (dist/oci-slaac-hook.delegate.js, which hooks/launch.js runs first for
 * a stage): when an agent runs with this hook's config file, it runs the whole stage
 * (agent/delegate.ts, wire/delegate-protocol.ts) and this process only reads stdin, sends one
 * message and waits for one. That leaves out what the hook's own process pays for every container:
 * the stage bundle's read, compile and evaluation, the config and secret, and the kernel and
 * ledger work done by code that runs once, cold.
 *
 * `handled` says whether the stage is done here (exit status set, the agent's log lines written to
 * stderr). It is not when this process is not root (rootless: the broker's path), the arguments
 * are not plain, no agent listens for this config, or the agent says "fallback": the stage bundle
 * then runs as without an agent, with the stdin read here handed over. Once the request is sent,
 * there is no falling back: an agent that fails or does not answer fails the container, because a
 * stage may be half done there (the agent's own records and collection undo it).
 */
import * as fs from 'node:fs';
import { absoluteConfigPath } from '../runtime/core/config-path';
import { escapeControls, Logger } from '../runtime/system/log';
import { SeqpacketRequestError, seqpacketRequestSync } from '../runtime/system/seqpacket';
import { delegateSocketPath, encodeDelegate, MAX_DELEGATE_ANSWER_BYTES, MAX_DELEGATE_REQUEST_BYTES, parseDelegateAnswer, stageEnvironment } from '../runtime/wire/delegate-protocol';
import { handOverStdin, readStdinState } from '../runtime/wire/oci/files';
import { HOOK_STAGES, type HookStage } from '../runtime/wire/oci/spec';

/** A stage's longest: an RA solicited (ra_timeout_ms), strict DAD, a DNS update and its retries. */
const DELEGATE_TIMEOUT_MS = 60_000;

/** `--config PATH` / `--config=PATH`, nothing else (anything else: the stage bundle's parser says what is wrong). */
function plainConfigArg(args: string[]): { config: string | undefined } | undefined {
  if (args.length === 0) return { config: undefined };
  if (args.length === 2 && args[0] === '--config' && args[1] !== '') return { config: args[1] };
  if (args.length === 1 && args[0]?.startsWith('--config=') && args[0].length > 9) return { config: args[0].slice(9) };
  return undefined;
}

/** A line the agent logged already (its syslog too): to stderr only. */
const say = (line: string): void => void fs.writeSync(2, `oci-slaac-hook: ${escapeControls(line)}\n`);

/** The hook's own failure: stderr and syslog, as the stage would log it (crun drops a hook's stderr). */
function failed(line: string): true {
  const log = new Logger('');
  log.error(line);
  log.close();
  process.exitCode = 1;
  return true;
}

function delegate(): boolean {
  const [stage, ...args] = process.argv.slice(2);
  if (!(HOOK_STAGES as readonly (string | undefined)[]).includes(stage) || process.geteuid?.() !== 0) return false;
  const plain = plainConfigArg(args);
  if (!plain) return false;
  const config = absoluteConfigPath(plain.config);
  const socket = delegateSocketPath(config);
  try {
    if (!fs.lstatSync(socket).isSocket()) return false;
  } catch {
    return false; // no agent for this config
  }
  let state: string;
  try {
    state = readStdinState();
  } catch (err) {
    handOverStdin(err as Error); // the stage says what is wrong with it, as without an agent
    return false;
  }
  handOverStdin(state);
  const request = encodeDelegate({ stage: stage as HookStage, config, env: stageEnvironment(process.env), state });
  if (request.length > MAX_DELEGATE_REQUEST_BYTES) return false;
  let bytes: Buffer;
  try {
    bytes = seqpacketRequestSync(socket, request, { timeoutMs: DELEGATE_TIMEOUT_MS, maxAnswerBytes: MAX_DELEGATE_ANSWER_BYTES });
  } catch (err) {
    // Nothing reached an agent (a socket a killed agent left, a full backlog): as without one.
    if (!(err instanceof SeqpacketRequestError) || !err.sent) return false;
    return failed(`${stage}: the agent (${socket}) did not answer: ${err.message}`);
  }
  const answer = parseDelegateAnswer(bytes);
  if (typeof answer === 'string') return failed(`${stage}: the agent's ${answer}`);
  if ('fallback' in answer) return false;
  for (const line of answer.lines) say(line);
  process.exitCode = answer.ok ? 0 : 1;
  return true;
}

export const handled: boolean = delegate();
