/**
 * The files `oci-slaac-hook install` writes, as text: podman's hooks.d files, the agent's systemd
 * unit, the launchers (runtime wrapper, CNI plugin) and the config.toml template. Pure. The
 * shipped hooks/hooks.d/*.json and hooks/oci-slaac-hook-agent.service are these, rendered for
 * /usr/local (tests/unit/install-files.test.ts holds them equal).
 */
import * as path from 'node:path';
import { DEFAULT_CONFIG_PATH } from '../runtime/core/config-text';

/** runc gives a hook nothing but its `env`. */
export const HOOK_PATH_ENV = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

/** Where the installation runs from: node, and the bundle's directory (dist). */
export interface Installation {
  node: string;
  dist: string;
}

export const hookEntry = (i: Installation): string => path.join(i.dist, 'oci-slaac-hook.js');

/** podman's hooks.d file (oci-hooks(5), version 1.0.0) for `stage`: every container, the hook with this config. */
export function hooksDFile(i: Installation, stage: 'prestart' | 'poststop', configPath: string, env: readonly string[] = []): string {
  const args = ['node', hookEntry(i), stage, ...(configPath === DEFAULT_CONFIG_PATH ? [] : ['--config', configPath])];
  const doc = { version: '1.0.0', hook: { path: i.node, args, env: [HOOK_PATH_ENV, ...env], timeout: 30 }, when: { always: true }, stages: [stage] };
  return `${JSON.stringify(doc, null, 2)}\n`;
}

/** A word of a systemd command line: quoted when it has to be. */
const unitWord = (w: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `"${w.replace(/[\\"]/g, '\\$&')}"`);

/** The agent's unit: the installed bundle's `agent`, restarted on failure, SIGHUP to reload. */
export function agentUnit(i: Installation, configPath: string, env: readonly string[] = []): string {
  const exec = [i.node, hookEntry(i), 'agent', ...(configPath === DEFAULT_CONFIG_PATH ? [] : ['--config', configPath])];
  return [
    "# oci-slaac-hook's agent: keeps every container's SLAAC addresses and routes alive (RA listeners",
    '# per parent NIC, refresh, expiry), collects what dead containers left, and serves the hook\'s',
    '# RA cache on /run/oci-slaac-hook/agent.sock. Written (paths filled in) by `oci-slaac-hook install`.',
    '[Unit]',
    'Description=oci-slaac-hook agent (SLAAC for containers: refresh, RA cache, garbage collection)',
    'Documentation=man:oci-slaac-hook(8)',
    'After=network.target',
    'Wants=network.target',
    '',
    '[Service]',
    'Type=simple',
    ...env.map((e) => `Environment=${unitWord(e)}`),
    `ExecStart=${exec.map(unitWord).join(' ')}`,
    'ExecReload=/bin/kill -HUP $MAINPID',
    'Restart=on-failure',
    'RestartSec=2',
    'TimeoutStopSec=5',
    'KillMode=mixed',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}

const shQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * A launcher for one of the bundles (the runtime wrapper, the CNI plugin): the daemons that run
 * it (dockerd, containerd, a CNI runtime) may have another PATH, or none, so it names node.
 */
export function launcher(i: Installation, bundle: 'oci-slaac-runtime' | 'oci-slaac-cni'): string {
  return `#!/bin/sh\nexec ${shQuote(i.node)} ${shQuote(path.join(i.dist, `${bundle}.js`))} "$@"\n`;
}

/** config.toml as first written: every key commented out but `parent` when one was found. */
export const CONFIG_TEMPLATE = `# oci-slaac-hook configuration; see oci-slaac-hook.toml(5) for every key.
# parent = "eth0"        # the physical NIC containers' interfaces hang off (required)
# mode = "macvlan"       # or "ipvlan"
# dad = "strict"         # or "optimistic"
#
# Containers may choose the NIC, the link's kind and mode or a static IID by annotation only
# among values listed here (none by default):
# [annotation_allow]
# parent = ["eth1", "eth2"]
# ipvlan_mode = ["l2", "l3"]
#
# Rootless podman users, through the agent's broker (README, "Rootless podman"); ipvlan l3s
# recommended for them:
# [rootless]
# enable = true
# quota = { alice = 4, "@containers" = 2 }
`;
