// tshark: decode a capture, flag malformed ICMPv6 and list who sent what to whom.

import { failure, run } from './run';

const TSHARK_SEVERITY_WARNING = 0x600000; // _ws.expert.severity: Warning (Error is 0x800000)

/** Display filter: ICMPv6 packets that are malformed, have a bad checksum, or carry an expert warning/error. */
export const TSHARK_PROBLEM_FILTER =
  `(icmpv6 || ipv6.nxt == 58) && (_ws.malformed || icmpv6.checksum.status == 0 || _ws.expert.severity >= ${TSHARK_SEVERITY_WARNING})`;

async function tsharkFields(file: string, filter: string, fields: readonly string[]): Promise<string[][]> {
  const args = ['-n', '-r', file, '-Y', filter, '-T', 'fields', '-E', 'separator=/t', '-E', 'occurrence=a', '-E', 'aggregator=,', '-E', 'quote=n'];
  for (const f of fields) args.push('-e', f);
  const r = await run('tshark', args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw failure(`tshark -r ${file}`, r);
  return r.stdout
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => l.split('\t'));
}

/**
 * One line per ICMPv6 packet in the pcap that tshark 4.0 finds malformed, with
 * a bad checksum, or with an expert warning/error. Empty array = all clean.
 * A capture file tshark cannot read completely is reported as a problem too.
 */
export async function tsharkProblems(file: string): Promise<string[]> {
  let rows: string[][];
  try {
    rows = await tsharkFields(file, TSHARK_PROBLEM_FILTER, [
      'frame.number',
      'ipv6.src',
      'ipv6.dst',
      'icmpv6.type',
      'icmpv6.code',
      'icmpv6.checksum.status',
      '_ws.expert.severity',
      '_ws.expert.message',
    ]);
  } catch (e) {
    return [`capture file ${file}: ${e instanceof Error ? e.message : String(e)}`];
  }
  return rows.map((c) => {
    const [frame = '?', src = '?', dst = '?', type = '?', code = '?', csum = '', , msg = ''] = c;
    const first = (s: string): string => s.split(',')[0] ?? s;
    const csumText = csum.split(',').includes('0') ? ' bad-checksum' : '';
    return `frame ${frame}: ${first(src)} -> ${first(dst)} icmpv6 type ${first(type)} code ${first(code)}${csumText}: ${msg || 'malformed'}`;
  });
}

export interface Icmp6Packet {
  frame: number;
  /** Seconds since the first packet of the capture. */
  time: number;
  ethSrc: string;
  ethDst: string;
  src: string;
  dst: string;
  hopLimit: number;
  type: number;
  code: number;
  /** NS/NA target address, if any. */
  target: string | undefined;
  /** ND option types present, in order. */
  options: number[];
}

/** Per ICMPv6 packet of the pcap: who sent what to whom (outer headers). */
export async function tsharkIcmp6Summary(file: string): Promise<Icmp6Packet[]> {
  const rows = await tsharkFields(file, 'icmpv6', [
    'frame.number',
    'frame.time_relative',
    'eth.src',
    'eth.dst',
    'ipv6.src',
    'ipv6.dst',
    'ipv6.hlim',
    'icmpv6.type',
    'icmpv6.code',
    'icmpv6.nd.ns.target_address',
    'icmpv6.nd.na.target_address',
    'icmpv6.opt.type',
  ]);
  const first = (s: string | undefined): string => (s ?? '').split(',')[0] ?? '';
  return rows.map((c) => ({
    frame: Number(first(c[0])),
    time: Number(first(c[1])),
    ethSrc: first(c[2]),
    ethDst: first(c[3]),
    src: first(c[4]),
    dst: first(c[5]),
    hopLimit: Number(first(c[6])),
    type: Number(first(c[7])),
    code: Number(first(c[8])),
    target: first(c[9]) || first(c[10]) || undefined,
    options: (c[11] ?? '')
      .split(',')
      .filter((s) => s.length > 0)
      .map(Number),
  }));
}
