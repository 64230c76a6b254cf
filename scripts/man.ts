/**
 * The man pages, from hooks/manual.ts (the source `help` reads too): oci-slaac-hook(8),
 * oci-slaac-runtime(8) and oci-slaac-hook.toml(5), written as roff into `dir` (scripts/bundle.js:
 * dist/man). `man -l dist/man/oci-slaac-hook.8` reads one.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { COMMANDS, CONFIG_KEYS, EXIT_CODES, HOOK_DESCRIPTION, RUNTIME_DESCRIPTION, RUNTIME_SYNOPSIS } from '../hooks/manual';

/** Text into roff: backslashes and hyphens escaped, `code` in bold, no line starting with a control character, ASCII only. */
export function roff(text: string): string {
  const escaped = text.replace(/\\/g, '\\e').replace(/-/g, '\\-');
  // Beyond ASCII (— § → …) as groff's \[uXXXX]: the page reads the same under any locale.
  const ascii = escaped.replace(/[^\x00-\x7f]/gu, (c) => `\\[u${(c.codePointAt(0) ?? 0x3f).toString(16).toUpperCase().padStart(4, '0')}]`);
  return ascii.replace(/`([^`]+)`/g, '\\fB$1\\fR').replace(/^([.'])/gm, '\\&$1');
}

const header = (name: string, section: number, version: string, title: string): string[] => [
  `.TH ${name.toUpperCase()} ${section} "" "oci-slaac-hook ${version}" "${title}"`,
  '.SH NAME',
];

export function hookPage(version: string): string {
  return [
    ...header('oci-slaac-hook', 8, version, 'System Administration'),
    `oci\\-slaac\\-hook \\- every container its own SLAAC, DAD\\-verified, globally routable IPv6 address`,
    '.SH SYNOPSIS',
    ...COMMANDS.flatMap((c) => ['.B oci\\-slaac\\-hook', roff(c.synopsis.replace(/^\S+/, (w) => `\`${w}\``)), '.br']),
    '.SH DESCRIPTION',
    ...HOOK_DESCRIPTION.flatMap((p) => ['.PP', roff(p)]),
    '.SH COMMANDS',
    ...COMMANDS.flatMap((c) => ['.TP', `.B ${roff(c.synopsis)}`, roff(c.does)]),
    '.SH EXIT STATUS',
    roff(EXIT_CODES),
    '.SH FILES',
    '.TP',
    '.B /etc/oci\\-slaac\\-hook/config.toml',
    'the configuration, see oci\\-slaac\\-hook.toml(5)',
    '.TP',
    '.B /var/lib/oci\\-slaac\\-hook/secret',
    'the host\'s RFC 7217 secret (0600)',
    '.TP',
    '.B /run/oci\\-slaac\\-hook',
    'one state file (ledger) per attachment; the agent\'s socket',
    '.SH SEE ALSO',
    'oci\\-slaac\\-runtime(8), oci\\-slaac\\-hook.toml(5), podman(1), runc(8), radvd(8)',
    '',
  ].join('\n');
}

export function runtimePage(version: string): string {
  return [
    ...header('oci-slaac-runtime', 8, version, 'System Administration'),
    'oci\\-slaac\\-runtime \\- an OCI runtime that adds oci\\-slaac\\-hook to each container, for Docker and containerd',
    '.SH SYNOPSIS',
    `.B ${roff(RUNTIME_SYNOPSIS)}`,
    '.SH DESCRIPTION',
    ...RUNTIME_DESCRIPTION.flatMap((p) => ['.PP', roff(p)]),
    '.SH SEE ALSO',
    'oci\\-slaac\\-hook(8), oci\\-slaac\\-hook.toml(5), runc(8), dockerd(8)',
    '',
  ].join('\n');
}

export function configPage(version: string): string {
  return [
    ...header('oci-slaac-hook.toml', 5, version, 'File Formats'),
    'oci\\-slaac\\-hook.toml \\- the configuration of oci\\-slaac\\-hook',
    '.SH SYNOPSIS',
    '/etc/oci\\-slaac\\-hook/config.toml',
    '.SH DESCRIPTION',
    '.PP',
    roff('A TOML file: top-level keys, and the tables `[dns]`, `[policy]`, `[rootless]`, `[shim]` and `[annotation_allow]`. The hook, the agent and the runtime wrapper read it (`--config PATH`, else `OCI_SLAAC_HOOK_CONFIG`, else this file); a CNI network config may set the top-level keys too. Unknown keys and wrong types are errors that name the key; every number has a range.'),
    '.SH KEYS',
    ...CONFIG_KEYS.flatMap((k) => ['.TP', `${roff(k.key)} (default ${roff(k.default)})`, roff(k.meaning)]),
    '.SH SEE ALSO',
    'oci\\-slaac\\-hook(8), oci\\-slaac\\-runtime(8)',
    '',
  ].join('\n');
}

/** Write the three pages into `dir`. */
export function writeManPages(dir: string, version: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const pages: [string, string][] = [
    ['oci-slaac-hook.8', hookPage(version)],
    ['oci-slaac-runtime.8', runtimePage(version)],
    ['oci-slaac-hook.toml.5', configPage(version)],
  ];
  for (const [name, text] of pages) fs.writeFileSync(path.join(dir, name), text);
  return pages.map(([name]) => path.join(dir, name));
}
