// Test helpers for the lab's DNS role (vm/roles/dns.sh, LAB_DNS=bind|knot):
// query the authoritative server with dig, update it with nsupdate (TSIG),
// and build ip6.arpa names. dig and nsupdate run inside the DNS server's
// netns (`ip netns exec`), so they work whatever addresses the hosts have.

import * as net from 'node:net';
import { type RunResult, run } from './run';
import { type Lab } from './lab';

type DnsLab = Pick<Lab, 'name' | 'dnsNetns' | 'dnsAddr' | 'dnsPort' | 'dnsKeyFile'>;

function server(lab: DnsLab): { addr: string; port: number; netns: string | undefined } {
  if (!lab.dnsAddr || lab.dnsPort === undefined) throw new Error(`lab ${lab.name} has no DNS role (bring it up with LAB_DNS=bind or knot)`);
  return { addr: lab.dnsAddr, port: lab.dnsPort, netns: lab.dnsNetns || undefined };
}

/**
 * The rdata of the answer to `name type` from the lab's server, one string a
 * record, in dig's presentation format (`dig +short +norec`): e.g.
 * ["2001:db8:1::abcd"] for AAAA, ["c1.lab.example."] for PTR, ['"text"'] for
 * TXT; [] for NXDOMAIN or no data. Rejects if dig gets no answer at all.
 */
export async function dig(lab: DnsLab, name: string, type: string): Promise<string[]> {
  const s = server(lab);
  const r = await run('dig', ['+short', '+norec', '+time=2', '+tries=2', `@${s.addr}`, '-p', String(s.port), name, type], {
    netns: s.netns,
    timeoutMs: 15_000,
  });
  const lines = r.stdout.split('\n').filter((l) => l.trim().length > 0);
  if (r.code !== 0 || lines.some((l) => l.startsWith(';'))) {
    throw new Error(`dig @${s.addr} -p ${s.port} ${name} ${type} failed (code ${r.code})\n${r.stdout}${r.stderr}`);
  }
  return lines;
}

/**
 * Run `nsupdate -k KEYFILE` against the lab's server with the script
 *   server ADDR PORT
 *   ...lines (zone ..., update add ..., update delete ..., prereq ..., send)
 *   send            (unless the last line already is one)
 * keyFile defaults to the lab's generated key; null = an unsigned update.
 * Never rejects: look at code (0 = every update succeeded) and stdout/stderr
 * (e.g. "update failed: REFUSED", "NOTAUTH(BADSIG)").
 */
export async function nsupdate(lab: DnsLab, lines: string[], keyFile: string | null | undefined = lab.dnsKeyFile): Promise<RunResult> {
  const s = server(lab);
  if (keyFile === undefined) throw new Error(`lab ${lab.name}: no TSIG key file`);
  const script = [`server ${s.addr} ${s.port}`, ...lines];
  if (lines.length === 0 || lines[lines.length - 1]?.trim() !== 'send') script.push('send');
  const args = ['-t', '10', '-u', '2'];
  if (keyFile !== null) args.push('-k', keyFile);
  return run('nsupdate', args, { netns: s.netns, input: script.join('\n') + '\n', timeoutMs: 30_000 });
}

/** The 32 lower-case hex nibbles of an IPv6 address ("2001:db8::1" -> "20010db8000...0001"). */
export function ip6Nibbles(address: string): string {
  let a = address.trim().toLowerCase();
  const pct = a.indexOf('%');
  if (pct >= 0) a = a.slice(0, pct);
  if (!net.isIPv6(a)) throw new Error(`not an IPv6 address: '${address}'`);
  // An embedded IPv4 tail (::ffff:192.0.2.1) becomes two hextets.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(a);
  if (v4) {
    const [b0, b1, b2, b3] = v4.slice(1).map(Number) as [number, number, number, number];
    a = a.slice(0, v4.index) + ((b0 << 8) | b1).toString(16) + ':' + ((b2 << 8) | b3).toString(16);
  }
  const halves = a.split('::');
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length > 1 && halves[1] ? halves[1].split(':') : [];
  const groups = [...head, ...Array<string>(8 - head.length - tail.length).fill('0'), ...tail];
  if (groups.length !== 8) throw new Error(`not an IPv6 address: '${address}'`);
  return groups.map((g) => g.padStart(4, '0')).join('');
}

/**
 * The PTR owner name of an IPv6 address (RFC 3596 nibble format), without the
 * trailing dot: reverseName('2001:db8:1::abcd') ===
 * 'd.c.b.a.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa'.
 */
export function reverseName(address: string): string {
  return [...ip6Nibbles(address)].reverse().join('.') + '.ip6.arpa';
}
