// Reconfigure the lab's running radvd (vm/roles/router.sh made it): write a new radvd.conf in its
// place and SIGHUP radvd, which re-reads it and advertises the new contents at once — how the
// renumbering tests make the router deprecate a prefix, add one, or withdraw one.

import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Lab, Preference } from './lab';

export interface RadvdPrefix {
  prefix: string; // "2001:db8:e1::/64"
  valid: number | 'infinity';
  preferred: number | 'infinity';
}

export interface RadvdSpec {
  routerLifetime: number;
  raInterval: number; // MaxRtrAdvInterval, 4..1800
  raMinInterval: number; // MinRtrAdvInterval, 3..0.75 × raInterval
  mtu: number; // 0: no option
  retransMs: number;
  preference?: Preference;
  prefixes: RadvdPrefix[];
  routes?: { prefix: string; lifetime: number | 'infinity'; preference: Preference }[];
  rdnss?: { servers: string[]; lifetime: number };
}

/** The radvd.conf text for `spec` on interface `ifname`. */
export function radvdConf(ifname: string, spec: RadvdSpec): string {
  const lines = [
    `# written by vm/lab/radvd.ts`,
    `interface ${ifname} {`,
    `\tAdvSendAdvert on;`,
    `\tMaxRtrAdvInterval ${spec.raInterval};`,
    `\tMinRtrAdvInterval ${spec.raMinInterval};`,
    `\tAdvLinkMTU ${spec.mtu};`,
    `\tAdvRetransTimer ${spec.retransMs};`,
    `\tAdvDefaultLifetime ${spec.routerLifetime};`,
    `\tAdvDefaultPreference ${spec.preference ?? 'medium'};`,
    `\tAdvSourceLLAddress on;`,
  ];
  for (const p of spec.prefixes) {
    lines.push(`\tprefix ${p.prefix} {`, `\t\tAdvOnLink on;`, `\t\tAdvAutonomous on;`, `\t\tAdvValidLifetime ${p.valid};`, `\t\tAdvPreferredLifetime ${p.preferred};`, `\t};`);
  }
  for (const r of spec.routes ?? []) lines.push(`\troute ${r.prefix} {`, `\t\tAdvRoutePreference ${r.preference};`, `\t\tAdvRouteLifetime ${r.lifetime};`, `\t};`);
  if (spec.rdnss && spec.rdnss.servers.length) lines.push(`\tRDNSS ${spec.rdnss.servers.join(' ')} {`, `\t\tAdvRDNSSLifetime ${spec.rdnss.lifetime};`, `\t};`);
  lines.push('};', '');
  return lines.join('\n');
}

/** The lab's radvd: its config file and its pid (from the pid file router.sh gave it). */
export function radvdOf(lab: Pick<Lab, 'runDir'>): { conf: string; pid: number } {
  const dir = path.join(lab.runDir, 'router');
  const pid = Number(fs.readFileSync(path.join(dir, 'radvd.pid'), 'utf8').trim());
  if (!(pid > 1)) throw new Error(`no radvd pid in ${dir}/radvd.pid`);
  return { conf: path.join(dir, 'radvd.conf'), pid };
}

/** Rewrite the lab's radvd.conf and SIGHUP radvd (it re-reads the file and sends RAs from the new config). */
export function reconfigureRadvd(lab: Pick<Lab, 'runDir' | 'routerIf'>, spec: RadvdSpec): void {
  const { conf, pid } = radvdOf(lab);
  const tmp = `${conf}.new`;
  fs.writeFileSync(tmp, radvdConf(lab.routerIf, spec));
  fs.renameSync(tmp, conf);
  process.kill(pid, 'SIGHUP');
}
