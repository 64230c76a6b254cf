/**
 * `oci-slaac-hook doctor [--config PATH] [--json]`: is this host ready to give containers their
 * addresses? One line per check — ok, warn or fail, with the fix — without starting a container
 * (as `podman system check` and nvidia-ctk's checks do). It changes nothing on the host: the router
 * check is a solicitation, the link kinds are asked with a link that cannot be made, the DNS check
 * is an update with a prerequisite only, the free-address check a DAD probe. Exit 1 when any check fails.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_CONFIG_PATH, type HookConfig } from '../runtime/core/config';
import { NetlinkError, oneLine } from '../runtime/core/errors';
import { stableAddress } from '../runtime/core/iid';
import { formatIPv6, formatPrefix } from '../runtime/core/ipv6';
import { needsHostReach, type SlaveSpec } from '../runtime/core/link-kinds';
import { unusableReason } from '../runtime/core/plan';
import { selectPrefixes } from '../runtime/core/slaac';
import { AgentClient } from '../runtime/system/agent-client';
import { absoluteConfigPath } from '../runtime/core/config-path';
import { delegateSocketPath } from '../runtime/wire/delegate-protocol';
import { loadConfigFile } from '../runtime/system/config-file';
import { parseServer, sendUpdate } from '../runtime/system/dns-client';
import { readHostSecret, hostSecretDir, readSharedSecret } from '../runtime/system/host-secret';
import { openInterface } from '../runtime/system/interface';
import { RtnlKernel } from '../runtime/system/kernel';
import { probeAddress, solicitRouter } from '../runtime/system/nd/solicit';
import { loadKeyFile } from '../runtime/wire/dns/keyfile';
import { IFF_UP } from '../runtime/wire/rtnetlink/constants';
import type { DiscoveredRouter } from '../runtime/system/nd/client';
import type { CommandResult } from './commands';

export type Verdict = 'ok' | 'warn' | 'fail';

export interface Finding {
  check: string;
  verdict: Verdict;
  /** What was found. */
  detail: string;
  /** What to do about it (warn and fail). */
  fix?: string;
}

/** Where things are looked for; tests point them elsewhere. */
export interface DoctorPaths {
  hooksDirs: string[];
  daemonJson: string;
  containerdConfig: string;
  cniBinDirs: string[];
}

export const DEFAULT_PATHS: DoctorPaths = {
  hooksDirs: ['/usr/share/containers/oci/hooks.d', '/etc/containers/oci/hooks.d'],
  daemonJson: '/etc/docker/daemon.json',
  containerdConfig: '/etc/containerd/config.toml',
  cniBinDirs: ['/opt/cni/bin', '/usr/lib/cni'],
};

/** Does an agent take root hooks' stages for this config file (its delegate socket is there)? */
function delegateServed(configPath: string | undefined): boolean {
  try {
    return fs.lstatSync(delegateSocketPath(absoluteConfigPath(configPath))).isSocket();
  } catch {
    return false;
  }
}

/** How long the router check listens when the agent has nothing cached. */
const RA_TIMEOUT_MS = 3000;
/** The name the free-address check derives its candidate from (never a container's). */
const PROBE_NAME = 'oci-slaac-hook doctor';

const ok = (check: string, detail: string): Finding => ({ check, verdict: 'ok', detail });
const warn = (check: string, detail: string, fix: string): Finding => ({ check, verdict: 'warn', detail, fix });
const fail = (check: string, detail: string, fix: string): Finding => ({ check, verdict: 'fail', detail, fix });

/**
 * A link kind the kernel can make, asked of the kernel itself: a link of that kind on a parent
 * that does not exist. A kernel without the kind answers EOPNOTSUPP (after trying to load its
 * module); one with it, ENODEV for the missing parent — nothing is made either way.
 */
function linkKind(kind: 'macvlan' | 'ipvlan'): Finding {
  let host: RtnlKernel | undefined;
  try {
    host = RtnlKernel.host();
    const spec: SlaveSpec = kind === 'macvlan' ? { kind, mode: 'bridge' } : { kind, mode: 'l2' };
    host.createSlave({ parentIndex: 0x7ffffff0, name: 'osh-doctor0', spec });
    host.deleteLink(host.findLink('osh-doctor0')?.index ?? 0); // never reached: no such parent
    return ok(`kernel ${kind}`, 'supported');
  } catch (err) {
    const code = err instanceof NetlinkError ? err.code : '';
    if (code === 'ENODEV') return ok(`kernel ${kind}`, 'supported');
    if (code === 'EOPNOTSUPP') return fail(`kernel ${kind}`, `this kernel makes no ${kind} links`, `load the module (modprobe ${kind}) or use a kernel with CONFIG_${kind.toUpperCase()}`);
    return warn(`kernel ${kind}`, `could not ask: ${oneLine(err)}`, 'run doctor as root');
  } finally {
    host?.close();
  }
}

/** Run every check; never throws (a check that cannot run is its own fail). */
export async function doctor(configPath: string | undefined, paths: DoctorPaths = DEFAULT_PATHS): Promise<Finding[]> {
  const out: Finding[] = [];
  let cfg: HookConfig;
  const file = configPath ?? process.env.OCI_SLAAC_HOOK_CONFIG ?? DEFAULT_CONFIG_PATH;
  try {
    cfg = loadConfigFile(configPath);
    out.push(ok('config', fs.existsSync(file) ? file : `${file} absent: the defaults`));
  } catch (err) {
    out.push(fail('config', oneLine(err), `fix ${file}`));
    return out;
  }

  out.push(linkKind(cfg.mode));

  // The parent: configured, there, up.
  if (!cfg.parent) {
    out.push(fail('parent', 'no parent interface configured: every container starts without an address of ours', `set parent = "<the NIC with the router>" in ${file} (oci-slaac-hook install --parent IF does it)`));
    return out;
  }
  let parentUp = false;
  try {
    const iface = openInterface(cfg.parent);
    try {
      parentUp = (iface.link.flags & IFF_UP) !== 0;
      out.push(parentUp ? ok('parent', `${cfg.parent} is up (MTU ${iface.link.mtu})`) : fail('parent', `${cfg.parent} is down`, `ip link set ${cfg.parent} up`));
    } finally {
      iface.close();
    }
  } catch (err) {
    out.push(fail('parent', oneLine(err), `set parent in ${file} to an interface of this host`));
    return out;
  }

  // A router on the parent, advertising a prefix for SLAAC: solicited now (not the agent's cache:
  // a router that stopped a minute ago must show).
  let found: DiscoveredRouter | undefined;
  if (parentUp) {
    try {
      found = await solicitRouter(cfg.parent, undefined, RA_TIMEOUT_MS);
    } catch (err) {
      out.push(fail('router', oneLine(err), `start the router's advertisements on ${cfg.parent}'s link (radvd: AdvSendAdvert on; a prefix with AdvAutonomous on)`));
    }
  }
  const prefixes = found ? selectPrefixes(found.advertisement.options).usable : [];
  if (found) {
    const why = unusableReason(found.advertisement);
    out.push(
      why === undefined
        ? ok('router', `${formatIPv6(found.router)} on ${cfg.parent} advertises ${prefixes.map((p) => formatPrefix(p.prefix, p.prefixLength)).join(', ')}`)
        : fail('router', `${formatIPv6(found.router)} on ${cfg.parent}: ${why}`, 'advertise an autonomous /64 (radvd: prefix … { AdvAutonomous on; })'),
    );
  }

  // ipvlan l3/l3s: ND runs on the parent, the host answers for the containers.
  if (cfg.mode === 'ipvlan' && needsHostReach('ipvlan', cfg.ipvlan_mode)) {
    out.push(ok('l3', `ipvlan ${cfg.ipvlan_mode}: proxy NDP and table ${cfg.l3_table} are set on ${cfg.parent} at the first attach`));
  }

  // The RFC 7217 key: secret_file's (shared by hosts of the link, installed by the operator), or the
  // host's own (made at the first attach when absent). The fingerprint (SHA-256, 8 bytes) lets the
  // operator compare hosts without showing the secret.
  const fingerprint = (secret: Buffer): string => `fingerprint sha256:${crypto.createHash('sha256').update(secret).digest('hex').slice(0, 16)}`;
  if (cfg.secret_file) {
    try {
      const secret = readSharedSecret(cfg.secret_file);
      out.push(ok('secret', `shared secret_file ${cfg.secret_file}: 32 bytes, mode 0600, ${fingerprint(secret)} (a name gets the same addresses and MAC on every host with this secret)`));
    } catch (err) {
      out.push(fail('secret', oneLine(err), `install the shared secret: install -m 0600 -o root SECRET ${cfg.secret_file} (the same 32 bytes on every host sharing it), or remove secret_file to use the host's own`));
    }
  } else {
    try {
      const secret = readHostSecret();
      out.push(secret ? ok('secret', `host's own ${path.join(hostSecretDir(), 'secret')}: 32 bytes, mode 0600, ${fingerprint(secret)}`) : warn('secret', `host's own ${path.join(hostSecretDir(), 'secret')} does not exist yet`, 'nothing to do: it is made at the first attach (copy it to keep addresses across a reinstall)'));
    } catch (err) {
      out.push(fail('secret', oneLine(err), `chmod 0600 ${path.join(hostSecretDir(), 'secret')} (or remove it to make a new one: every address changes)`));
    }
  }

  // The state dir.
  try {
    fs.accessSync(cfg.state_dir, fs.constants.W_OK);
    out.push(ok('state dir', `${cfg.state_dir} is writable`));
  } catch (err) {
    out.push((err as NodeJS.ErrnoException).code === 'ENOENT' ? warn('state dir', `${cfg.state_dir} does not exist yet`, 'nothing to do: it is made at the first attach') : fail('state dir', `${cfg.state_dir}: ${oneLine(err)}`, `make ${cfg.state_dir} writable by root`));
  }

  // The agent.
  const agent = new AgentClient(cfg.state_dir);
  const ping = await agent.ask({ op: 'ping' });
  out.push(
    ping
      ? ok('agent', `answers on ${agent.socketPath} (${ping.containers ?? 0} containers, parents ${(ping.parents ?? []).join(', ') || 'none'}); ${delegateServed(configPath) ? "root hooks hand it their stages" : 'hooks run their stages themselves (no delegate socket for this config file)'}`)
      : fail('agent', `no agent answers on ${agent.socketPath}: addresses are not renewed and routers not followed after a container starts`, 'systemctl enable --now oci-slaac-hook-agent (or run `oci-slaac-hook agent`)'),
  );

  out.push(...runtimes(paths));

  if (cfg.dns) out.push(await dnsCheck(cfg, file));

  // A free address: the next candidate a new name would get, probed on the link.
  const first = prefixes.find((p) => p.prefixLength === 64);
  if (first) {
    const candidate = stableAddress({ prefix: first.prefix, prefixLength: 64, name: PROBE_NAME, networkId: cfg.network_id, dadCounter: 0, secret: Buffer.alloc(32) }).address;
    try {
      const r = await probeAddress(cfg.parent, undefined, { target: candidate, transmits: cfg.dad_transmits, retransMs: found?.advertisement.retransTimer || 1000 });
      out.push(r.verdict === 'unique' ? ok('free address', `${formatIPv6(candidate)} is free on the link (DAD, ${Math.round(r.elapsedMs)} ms)`) : warn('free address', `${formatIPv6(candidate)} is in use (${r.evidence ?? 'duplicate'})`, 'a container taking it would try the next candidate; see who holds it'));
    } catch (err) {
      out.push(fail('free address', `DAD on ${cfg.parent}: ${oneLine(err)}`, `check ${cfg.parent} can send ICMPv6 (run as root)`));
    }
  }
  return out;
}

/** Which runtimes are here, and whether ours is registered with each. */
function runtimes(paths: DoctorPaths): Finding[] {
  const out: Finding[] = [];
  const onPath = (cmd: string): string | undefined => (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').map((d) => path.join(d, cmd)).find((f) => fs.existsSync(f));
  const read = (f: string): string | undefined => {
    try {
      return fs.readFileSync(f, 'utf8');
    } catch {
      return undefined;
    }
  };
  for (const rt of ['runc', 'crun']) {
    const at = onPath(rt);
    if (at) out.push(ok(rt, `${at}: the hook goes in each bundle's config.json (hooks/runc-hooks.json), or use podman's hooks.d`));
  }
  if (onPath('podman')) {
    const hooksD = paths.hooksDirs.flatMap((d) => {
      const f = path.join(d, 'oci-slaac-hook-poststop.json');
      return fs.existsSync(f) ? [d] : [];
    });
    out.push(hooksD.length ? ok('podman', `hooks.d files in ${hooksD.join(', ')}`) : warn('podman', `podman found, no hooks.d file of ours in ${paths.hooksDirs.join(' or ')}`, 'oci-slaac-hook install (or pass --hooks-dir)'));
  }
  if (onPath('dockerd')) {
    const text = read(paths.daemonJson);
    out.push(text?.includes('oci-slaac-runtime') ? ok('docker', `${paths.daemonJson} names oci-slaac-runtime`) : warn('docker', `dockerd found, ${paths.daemonJson} has no runtime of ours`, 'oci-slaac-hook docker-install, then docker run --runtime slaac …'));
  }
  if (onPath('containerd')) {
    const text = read(paths.containerdConfig);
    out.push(text?.includes('oci-slaac-runtime') ? ok('containerd', `${paths.containerdConfig} names oci-slaac-runtime`) : warn('containerd', `containerd found, ${paths.containerdConfig} has no runtime of ours`, 'oci-slaac-hook install --containerd (a runtime whose BinaryName is oci-slaac-runtime), then restart containerd'));
  }
  const cni = paths.cniBinDirs.find((d) => fs.existsSync(path.join(d, 'slaac')));
  if (cni) out.push(ok('cni', `plugin ${path.join(cni, 'slaac')}`));
  return out;
}

/** The DNS server answers and accepts the key: an update whose only content is a prerequisite (the zone exists) changes nothing. */
async function dnsCheck(cfg: HookConfig, file: string): Promise<Finding> {
  const dns = cfg.dns;
  if (!dns) return ok('dns', 'not configured');
  try {
    const key = dns.key_file ? loadKeyFile(dns.key_file) : undefined;
    const r = await sendUpdate({ server: parseServer(dns.server), zone: dns.zone, ops: [], inUse: [dns.zone], ...(key ? { key } : {}), timeoutMs: dns.timeout_ms, retries: 1 });
    return ok('dns', `${dns.server} accepts ${key ? `key ${key.name}` : 'unsigned updates'} for ${dns.zone} (${Math.round(r.elapsedMs)} ms)`);
  } catch (err) {
    const why = oneLine(err);
    const fix = /NOTAUTH|BADKEY|BADSIG|BADTIME|REFUSED/.test(why)
      ? `check [dns] key_file in ${file} against the server's key (name, algorithm, secret) and its update-policy for ${dns.zone}`
      : `check [dns] server in ${file}, and that the server runs and serves ${dns.zone}`;
    return fail('dns', why, fix);
  }
}

/** The findings as the command prints them: one line each, the fix after it. */
export function doctorResult(findings: Finding[]): CommandResult {
  const width = Math.max(...findings.map((f) => f.check.length));
  const lines = findings.map((f) => `${f.verdict.padEnd(4)}  ${f.check.padEnd(width)}  ${f.detail}${f.fix ? ` — fix: ${f.fix}` : ''}`);
  const failed = findings.filter((f) => f.verdict === 'fail').length;
  return { exitCode: failed > 0 ? 1 : 0, text: lines.join('\n'), json: { ok: failed === 0, findings } };
}
