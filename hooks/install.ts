/**
 * `oci-slaac-hook install` and `uninstall`: set this host up for the installation this command
 * runs from (its node, its dist directory) in one step, and undo exactly that.
 *
 * install finds the parent (the one NIC whose router advertises an autonomous /64; several: it
 * refuses and asks for --parent; none: config.toml names none and the hook lets every container
 * start without an address of ours), then writes config.toml (only `parent` is ever touched in
 * an existing one), podman's hooks.d files, the agent's systemd unit (enabled and started where
 * systemd runs), the runtime wrapper, and when asked Docker's daemon.json runtime, containerd's
 * runtime table and the CNI plugin. Everything is decided before anything is written: a refusal
 * leaves the host as it was. Each file is written only when its bytes change (atomically), so a
 * second run changes nothing. What it made is recorded in `<state lib>/install.json`; uninstall
 * reads that and removes our files and our entries only — a file changed since is kept and named
 * — leaving config.toml and the host secret unless `--purge`.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_CONFIG_PATH, isTable, parseTomlText } from '../runtime/core/config-text';
import { InputError, oneLine } from '../runtime/core/errors';
import { setTopLevelString } from '../runtime/core/toml-edit';
import { replaceFile } from '../runtime/system/atomic-file';
import { hostSecretDir } from '../runtime/system/host-secret';
import { hostLinks, listenForRouters, type Heard } from '../runtime/system/parent-scan';
import { addContainerdRuntime, removeContainerdRuntime } from '../runtime/wire/oci/containerd-config';
import { addDockerRuntime, removeDockerRuntime } from '../runtime/wire/oci/daemon-json';
import { MAX_CONFIG_TOML_BYTES, parseJsonText, readRegularFile } from '../runtime/wire/oci/files';
import type { CommandResult } from './commands';
import { CONFIG_TEMPLATE, agentUnit, hooksDFile, launcher, type Installation } from './install-files';

export const DEFAULTS = {
  prefix: '/usr/local',
  hooksDir: '/usr/share/containers/oci/hooks.d',
  configDir: path.dirname(DEFAULT_CONFIG_PATH),
  systemdDir: '/etc/systemd/system',
  daemonJson: '/etc/docker/daemon.json',
  containerdConfig: '/etc/containerd/config.toml',
  cniType: 'slaac',
  raTimeoutMs: 3000,
};
/** Docker's and containerd's name for our runtime (README; `docker run --runtime slaac`, RuntimeClass handler slaac). */
export const RUNTIME_NAME = 'slaac';
const UNIT = 'oci-slaac-hook-agent.service';
const MANIFEST = 'install.json';
const MAX_FILE_BYTES = 1024 * 1024;

export interface InstallOptions {
  parent?: string;
  /** NICs to probe (comma-separated; "" probes none); default every NIC that may be a parent. */
  scan?: string;
  docker?: string;
  containerd?: string;
  cni?: string;
  cniType?: string;
  prefix?: string;
  hooksDir?: string;
  configDir?: string;
  systemdDir?: string;
  stateLib?: string;
  raTimeout?: string;
}

type Action = 'created' | 'updated' | 'unchanged' | 'kept' | 'removed' | 'gone' | 'warn' | 'next' | 'parent' | 'probed';

export interface Change {
  action: Action;
  detail: string;
}

/** What install made, as uninstall needs it. No timestamps: a second install writes the same bytes. */
export interface Manifest {
  version: 1;
  /** Files wholly ours, with the sha256 of what we wrote. */
  files: { path: string; sha256: string }[];
  /** Directories we made (parents first). */
  dirs: string[];
  config: { path: string; created: boolean };
  docker?: { file: string; name: string; path: string; createdFile: boolean; createdRuntimes: boolean };
  containerd?: { file: string; name: string; createdFile: boolean };
  systemd?: { unit: string; enabled: boolean };
}

const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

/** This installation: the node running us and the directory of the bundle we run from. */
export function thisInstallation(): Installation {
  return { node: process.execPath, dist: __dirname };
}

function absolute(p: string | undefined, fallback: string, what: string): string {
  const v = p ?? fallback;
  if (v === '' || /[\x00-\x1f\x7f]/.test(v)) throw new InputError(`${what}: ${JSON.stringify(v)} is not a usable path`);
  return path.resolve(v);
}

function timeoutMs(v: string | undefined): number {
  if (v === undefined) return DEFAULTS.raTimeoutMs;
  if (!/^\d+$/.test(v) || Number(v) < 100 || Number(v) > 30000) throw new InputError(`--ra-timeout must be 100..30000 ms, got ${JSON.stringify(v)}`);
  return Number(v);
}

function readText(file: string, missingOk = true): string | undefined {
  return readRegularFile(file, { what: file, maxBytes: MAX_FILE_BYTES, missingOk });
}

export function manifestPath(stateLib?: string): string {
  return path.join(absolute(stateLib, hostSecretDir(), '--state-lib'), MANIFEST);
}

function readManifest(file: string): Manifest | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  const doc = parseJsonText(text, file);
  if (!isTable(doc) || doc.version !== 1 || !Array.isArray(doc.files) || !Array.isArray(doc.dirs) || !isTable(doc.config)) throw new InputError(`${file} is not a manifest of oci-slaac-hook install`);
  return doc as unknown as Manifest;
}

const systemdRuns = (): boolean => fs.existsSync('/run/systemd/system');

function systemctl(args: string[]): string | undefined {
  const r = spawnSync('systemctl', args, { encoding: 'utf8', timeout: 60_000 });
  return r.status === 0 ? undefined : `systemctl ${args.join(' ')}: ${oneLine(r.error ?? (r.stderr.trim() || `exit ${r.status}`))}`;
}

/** The parent, decided before anything is written: `--parent`, else config.toml's, else the one NIC that hears an autonomous /64. */
async function decideParent(opts: InstallOptions, existing: unknown, changes: Change[]): Promise<{ parent?: string; heard: Heard[] }> {
  const timeout = timeoutMs(opts.raTimeout);
  const links = hostLinks();
  if (opts.parent !== undefined) {
    if (opts.scan !== undefined) throw new InputError('--parent and --scan exclude each other: --parent names the NIC, --scan is where to look for it');
    const link = links.find((l) => l.link.name === opts.parent);
    if (!link) throw new InputError(`--parent ${JSON.stringify(opts.parent)}: no such interface on this host`);
    if (link.excluded) changes.push({ action: 'warn', detail: `${opts.parent} is ${link.excluded}` });
    const heard = await listenForRouters([opts.parent], timeout);
    const h = heard[0];
    if (h?.why) changes.push({ action: 'warn', detail: `${opts.parent}: ${h.why}: containers get no address of ours until a router there advertises an autonomous /64` });
    changes.push({ action: 'parent', detail: `${opts.parent} (--parent)${h?.prefixes.length ? `: ${h.router} advertises ${h.prefixes.join(', ')}` : ''}` });
    return { parent: opts.parent, heard };
  }
  if (typeof existing === 'string' && existing !== '') {
    changes.push({ action: 'parent', detail: `${existing} (config.toml names it; --parent replaces it)` });
    return { parent: existing, heard: [] };
  }
  let names: string[];
  if (opts.scan !== undefined) {
    names = [...new Set(opts.scan.split(',').filter((n) => n !== ''))];
    for (const n of names) {
      const link = links.find((l) => l.link.name === n);
      if (!link) throw new InputError(`--scan: no interface ${JSON.stringify(n)} on this host`);
      if (link.excluded) throw new InputError(`--scan: ${n} is ${link.excluded}: no parent`);
    }
  } else names = links.filter((l) => !l.excluded).map((l) => l.link.name);
  const heard = await listenForRouters(names, timeout);
  for (const h of heard) changes.push({ action: 'probed', detail: `${h.name}: ${h.why ?? `${h.router} advertises ${h.prefixes.join(', ')}`}` });
  const parents = heard.filter((h) => h.prefixes.length > 0);
  if (parents.length > 1) {
    throw new InputError(`several NICs hear a router advertising an autonomous /64: ${parents.map((p) => `${p.name} (${p.prefixes.join(', ')})`).join(', ')}: choose one with --parent IF`);
  }
  const [one] = parents;
  if (one) {
    changes.push({ action: 'parent', detail: `${one.name}: the one NIC that hears a router advertising an autonomous /64 (${one.router}: ${one.prefixes.join(', ')})` });
    return { parent: one.name, heard };
  }
  changes.push({
    action: 'warn',
    detail: `no parent: ${names.length ? `none of ${names.join(', ')} hears` : 'no NIC probed hears'} a router advertising an autonomous /64; config.toml names none, and the hook lets every container start without an address of ours (oci-slaac-hook doctor says so) until you run oci-slaac-hook install --parent IF`,
  });
  return { heard };
}

/** One file of ours to write: the whole file is ours. */
interface OwnFile {
  path: string;
  text: string;
  mode: number;
  what: string;
}

/** Directories to make for `file`, recorded (parents first) when we make them. */
function makeDirs(dir: string, made: string[], mode = 0o755): void {
  const missing: string[] = [];
  for (let d = dir; !fs.existsSync(d); d = path.dirname(d)) missing.unshift(d);
  for (const d of missing) {
    fs.mkdirSync(d, { mode });
    made.push(d);
  }
}

/** Is `file` already exactly `text` with `mode` (a regular file, not a link)? */
function sameFile(file: string, text: string, mode: number): 'same' | 'differs' | 'absent' {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'absent';
    throw err;
  }
  if (!st.isFile() || (st.mode & 0o7777) !== mode) return 'differs';
  return fs.readFileSync(file, 'utf8') === text ? 'same' : 'differs';
}

export async function installCommand(opts: InstallOptions, inst: Installation = thisInstallation()): Promise<CommandResult> {
  const prefix = absolute(opts.prefix, DEFAULTS.prefix, '--prefix');
  const hooksDir = absolute(opts.hooksDir, DEFAULTS.hooksDir, '--hooks-dir');
  const configDir = absolute(opts.configDir, DEFAULTS.configDir, '--config-dir');
  const systemdDir = absolute(opts.systemdDir, DEFAULTS.systemdDir, '--systemd-dir');
  const stateLib = absolute(opts.stateLib, hostSecretDir(), '--state-lib');
  const docker = opts.docker === undefined ? undefined : absolute(opts.docker, DEFAULTS.daemonJson, '--docker');
  const containerd = opts.containerd === undefined ? undefined : absolute(opts.containerd, DEFAULTS.containerdConfig, '--containerd');
  const cni = opts.cni === undefined ? undefined : absolute(opts.cni, '', '--cni');
  const cniType = opts.cniType ?? DEFAULTS.cniType;
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(cniType)) throw new InputError(`--cni-type ${JSON.stringify(cniType)} must be 1..64 letters, digits, "_", "." or "-"`);
  for (const b of ['oci-slaac-hook', 'oci-slaac-runtime', 'oci-slaac-cni']) {
    if (!fs.existsSync(path.join(inst.dist, `${b}.js`))) throw new InputError(`${path.join(inst.dist, `${b}.js`)} is missing: run install from the built bundle (npm run build)`);
  }
  const configPath = path.join(configDir, 'config.toml');
  const manifestFile = path.join(stateLib, MANIFEST);
  const old = readManifest(manifestFile);
  const changes: Change[] = [];

  // --- Decide everything; nothing is written until every check has passed.
  const configBefore = readRegularFile(configPath, { what: `config ${configPath}`, maxBytes: MAX_CONFIG_TOML_BYTES, missingOk: true });
  const existingParent = configBefore === undefined ? undefined : parseTomlText(configBefore, configPath).parent;
  const { parent, heard } = await decideParent(opts, existingParent, changes);
  const configText = parent === undefined || parent === existingParent ? (configBefore ?? CONFIG_TEMPLATE) : setTopLevelString(configBefore ?? CONFIG_TEMPLATE, 'parent', parent, configPath).text;

  // What the hook and the agent read from their environment: the state lib when not the default.
  const env = stateLib === '/var/lib/oci-slaac-hook' ? [] : [`OCI_SLAAC_HOOK_STATE_LIB=${stateLib}`];
  const hookEnv = [...env, ...Object.entries(process.env).filter(([k, v]) => k === 'OCI_SLAAC_HOOK_SYSLOG' && v).map(([k, v]) => `${k}=${v}`)];
  const wrapper = path.join(prefix, 'bin', 'oci-slaac-runtime');
  const own: OwnFile[] = [
    { path: path.join(hooksDir, 'oci-slaac-hook-prestart.json'), text: hooksDFile(inst, 'prestart', configPath, hookEnv), mode: 0o644, what: "podman's hooks.d (prestart)" },
    { path: path.join(hooksDir, 'oci-slaac-hook-poststop.json'), text: hooksDFile(inst, 'poststop', configPath, hookEnv), mode: 0o644, what: "podman's hooks.d (poststop)" },
    { path: path.join(systemdDir, UNIT), text: agentUnit(inst, configPath, env), mode: 0o644, what: "the agent's systemd unit" },
  ];
  // npm install -g links <prefix>/bin/oci-slaac-runtime to this very bundle: that link is the wrapper already.
  let wrapperIsLink = false;
  try {
    wrapperIsLink = fs.lstatSync(wrapper).isSymbolicLink() && fs.realpathSync(wrapper) === fs.realpathSync(path.join(inst.dist, 'oci-slaac-runtime.js'));
  } catch {
    wrapperIsLink = false;
  }
  if (wrapperIsLink) changes.push({ action: 'kept', detail: `${wrapper}: a link to this installation's oci-slaac-runtime.js (the runtime wrapper)` });
  else own.push({ path: wrapper, text: launcher(inst, 'oci-slaac-runtime'), mode: 0o755, what: 'the runtime wrapper (Docker, containerd)' });
  if (cni) own.push({ path: path.join(cni, cniType), text: launcher(inst, 'oci-slaac-cni'), mode: 0o755, what: `the CNI plugin, type "${cniType}"` });

  let dockerPlan: { text: string; changed: string[]; before: string | undefined } | undefined;
  if (docker) {
    const before = readText(docker);
    dockerPlan = { ...addDockerRuntime(before, { name: RUNTIME_NAME, path: wrapper, makeDefault: false }), before };
  }
  let containerdPlan: ReturnType<typeof addContainerdRuntime> & { before: string | undefined } | undefined;
  if (containerd) {
    const before = readText(containerd);
    containerdPlan = { ...addContainerdRuntime(before, { name: RUNTIME_NAME, path: wrapper }, containerd), before };
  }

  // --- Write, recording as we go: a failure half-way still leaves a manifest uninstall can undo.
  const manifest: Manifest = {
    version: 1,
    files: [...(old?.files ?? [])],
    dirs: [...(old?.dirs ?? [])],
    config: old?.config ?? { path: configPath, created: configBefore === undefined },
    ...(old?.docker ? { docker: old.docker } : {}),
    ...(old?.containerd ? { containerd: old.containerd } : {}),
    ...(old?.systemd ? { systemd: old.systemd } : {}),
  };
  const recordFile = (file: string, text: string): void => {
    manifest.files = [...manifest.files.filter((f) => f.path !== file), { path: file, sha256: sha256(text) }];
  };
  let unitChanged = false;
  try {
    makeDirs(stateLib, manifest.dirs, 0o700);
    makeDirs(configDir, manifest.dirs);
    if (configBefore === undefined || configText !== configBefore) {
      if (configBefore === undefined) replaceFile(configPath, configText, { own: { mode: 0o644 } }); // rootless hooks read it as the user
      else replaceFile(configPath, configText, { fsync: true });
      changes.push({ action: configBefore === undefined ? 'created' : 'updated', detail: `${configPath} (parent ${parent === undefined ? 'not set' : `= "${parent}"`})` });
    } else changes.push({ action: 'unchanged', detail: configPath });

    for (const f of own) {
      const state = sameFile(f.path, f.text, f.mode);
      // Already there, byte for byte, and not from an install of ours (the .deb's hooks.d files,
      // say): someone else's, which uninstall must leave.
      if (state === 'same' && !manifest.files.some((m) => m.path === f.path)) {
        changes.push({ action: 'kept', detail: `${f.path} (${f.what}): already there, not ours (uninstall leaves it)` });
        continue;
      }
      if (state !== 'same') {
        makeDirs(path.dirname(f.path), manifest.dirs);
        replaceFile(f.path, f.text, { own: { mode: f.mode } });
        if (f.path.endsWith(UNIT)) unitChanged = true;
      }
      recordFile(f.path, f.text);
      changes.push({ action: state === 'same' ? 'unchanged' : state === 'absent' ? 'created' : 'updated', detail: `${f.path} (${f.what})` });
    }

    if (docker && dockerPlan) {
      const was = manifest.docker?.file === docker ? manifest.docker : undefined;
      if (dockerPlan.changed.length) {
        makeDirs(path.dirname(docker), manifest.dirs);
        replaceFile(docker, dockerPlan.text, { fsync: true });
        const beforeDoc = dockerPlan.before === undefined || dockerPlan.before.trim() === '' ? {} : parseJsonText(dockerPlan.before, docker);
        manifest.docker = was ?? { file: docker, name: RUNTIME_NAME, path: wrapper, createdFile: dockerPlan.before === undefined, createdRuntimes: !(isTable(beforeDoc) && Object.hasOwn(beforeDoc, 'runtimes')) };
        manifest.docker.path = wrapper;
        changes.push(...dockerPlan.changed.map((c): Change => ({ action: dockerPlan?.before === undefined ? 'created' : 'updated', detail: `${docker}: ${c}` })));
        changes.push({ action: 'next', detail: 'dockerd reloads runtimes on SIGHUP: systemctl reload docker' });
      } else changes.push({ action: was ? 'unchanged' : 'kept', detail: `${docker}: runtimes.${RUNTIME_NAME} is ${wrapper}${was ? '' : ' already (not ours: uninstall leaves it)'}` });
    }

    if (containerd && containerdPlan) {
      const was = manifest.containerd?.file === containerd ? manifest.containerd : undefined;
      if (containerdPlan.changed.length) {
        makeDirs(path.dirname(containerd), manifest.dirs);
        replaceFile(containerd, containerdPlan.text, { fsync: true });
        manifest.containerd = was ?? { file: containerd, name: RUNTIME_NAME, createdFile: containerdPlan.before === undefined };
        changes.push(...containerdPlan.changed.map((c): Change => ({ action: containerdPlan?.before === undefined ? 'created' : 'updated', detail: `${containerd}: ${c}` })));
        changes.push({ action: 'next', detail: 'containerd reads its config at start: systemctl restart containerd' });
      } else changes.push({ action: containerdPlan.ours ? 'unchanged' : 'kept', detail: `${containerd}: runtime ${RUNTIME_NAME} is ${wrapper}${containerdPlan.ours ? '' : ' already (not ours: uninstall leaves it)'}` });
    }

    const unit = path.join(systemdDir, UNIT);
    if (systemdDir === DEFAULTS.systemdDir && systemdRuns()) {
      const failed = (unitChanged || !old?.systemd?.enabled ? [['daemon-reload'], ['enable', UNIT], ['restart', UNIT]] : []).map(systemctl).find((e) => e !== undefined);
      manifest.systemd = { unit, enabled: true };
      changes.push(failed ? { action: 'warn', detail: `${failed}: see journalctl -u ${UNIT}` } : { action: unitChanged || !old?.systemd?.enabled ? 'updated' : 'unchanged', detail: `${UNIT}: enabled and running` });
    } else {
      manifest.systemd = { unit, enabled: false };
      changes.push({ action: 'kept', detail: `${UNIT}: not enabled (${systemdDir === DEFAULTS.systemdDir ? 'systemd does not run here' : `not systemd's own directory`}): run oci-slaac-hook agent under your service manager` });
    }
  } finally {
    const text = `${JSON.stringify(manifest, null, 2)}\n`;
    const state = sameFile(manifestFile, text, 0o644);
    if (state !== 'same') replaceFile(manifestFile, text, { own: { mode: 0o644 } });
    changes.push({ action: state === 'same' ? 'unchanged' : state === 'absent' ? 'created' : 'updated', detail: `${manifestFile} (what uninstall undoes)` });
  }
  const written = changes.some((c) => c.action === 'created' || c.action === 'updated');
  return { exitCode: 0, text: formatChanges(changes), json: { parent: parent ?? null, heard, changes, manifest: manifestFile, changed: written } };
}

export function formatChanges(changes: readonly Change[]): string {
  return changes.map((c) => `${c.action.padEnd(9)} ${c.detail}`.replace(/[\x00-\x1f\x7f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)).join('\n');
}

/** Remove `file` if it still holds what we wrote. */
function removeOwn(file: string, hash: string, changes: Change[]): void {
  let text: Buffer;
  try {
    if (!fs.lstatSync(file).isFile()) {
      changes.push({ action: 'kept', detail: `${file}: not the file we wrote any more` });
      return;
    }
    text = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    changes.push({ action: 'gone', detail: `${file} (already)` });
    return;
  }
  if (sha256(text) !== hash) {
    changes.push({ action: 'kept', detail: `${file}: changed since install (remove it yourself)` });
    return;
  }
  fs.rmSync(file);
  changes.push({ action: 'removed', detail: file });
}

export function uninstallCommand(opts: { stateLib?: string; purge?: boolean }): CommandResult {
  const stateLib = absolute(opts.stateLib, hostSecretDir(), '--state-lib');
  const manifestFile = path.join(stateLib, MANIFEST);
  const m = readManifest(manifestFile);
  if (!m) return { exitCode: 0, text: `nothing to undo: no ${manifestFile} (oci-slaac-hook install writes it)`, json: { manifest: manifestFile, changes: [] } };
  const changes: Change[] = [];
  if (m.systemd?.enabled && systemdRuns()) {
    const failed = systemctl(['disable', '--now', path.basename(m.systemd.unit)]);
    changes.push(failed ? { action: 'warn', detail: failed } : { action: 'removed', detail: `${UNIT}: stopped and disabled` });
  }
  for (const f of m.files) removeOwn(f.path, f.sha256, changes);
  if (m.systemd?.enabled && systemdRuns()) systemctl(['daemon-reload']);

  if (m.docker) {
    const d = m.docker;
    const text = readText(d.file);
    if (text === undefined) changes.push({ action: 'gone', detail: `${d.file} (already)` });
    else {
      const r = removeDockerRuntime(text, { name: d.name, path: d.path, dropEmptyRuntimes: d.createdRuntimes });
      if (r.kept) changes.push({ action: 'kept', detail: `${d.file}: ${r.kept}` });
      if (r.changed.length && r.emptied && d.createdFile) {
        fs.rmSync(d.file);
        changes.push({ action: 'removed', detail: `${d.file} (we made it; nothing else was in it)` });
      } else if (r.changed.length) {
        replaceFile(d.file, r.text, { fsync: true });
        changes.push(...r.changed.map((c): Change => ({ action: 'removed', detail: `${d.file}: ${c}` })));
      }
    }
  }
  if (m.containerd) {
    const c = m.containerd;
    const text = readText(c.file);
    if (text === undefined) changes.push({ action: 'gone', detail: `${c.file} (already)` });
    else {
      const r = removeContainerdRuntime(text, c.name, c.file);
      if (r.changed && r.emptied && c.createdFile) {
        fs.rmSync(c.file);
        changes.push({ action: 'removed', detail: `${c.file} (we made it; nothing else was in it)` });
      } else if (r.changed) {
        replaceFile(c.file, r.text, { fsync: true });
        changes.push({ action: 'removed', detail: `${c.file}: runtime ${c.name} (our block)` });
      } else changes.push({ action: 'gone', detail: `${c.file}: our block (already)` });
    }
  }
  const secret = path.join(stateLib, 'secret');
  if (opts.purge) {
    for (const f of [m.config.path, secret]) {
      if (fs.existsSync(f)) {
        fs.rmSync(f);
        changes.push({ action: 'removed', detail: `${f} (--purge)` });
      }
    }
  } else {
    changes.push({ action: 'kept', detail: `${m.config.path} (--purge removes it)` });
    if (fs.existsSync(secret)) changes.push({ action: 'kept', detail: `${secret}: the host secret, every container's address derives from it (--purge removes it)` });
  }
  fs.rmSync(manifestFile, { force: true });
  changes.push({ action: 'removed', detail: manifestFile });
  for (const d of [...m.dirs].reverse()) {
    try {
      fs.rmdirSync(d);
      changes.push({ action: 'removed', detail: `${d}/` });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') changes.push({ action: 'kept', detail: `${d}/: not empty` });
      else if (code !== 'ENOENT') throw err;
    }
  }
  return { exitCode: 0, text: formatChanges(changes), json: { manifest: manifestFile, changes } };
}
