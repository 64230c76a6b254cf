// Claiming a stable address on the lab link with our own DAD: a conflict moves the RFC 7217 DAD
// counter on; the RA's RetransTimer paces the probes; nonces keep our own probes from counting.
import t from 'tap';
import { claimAddress } from '../../runtime/core/dad';
import { detectDuplicate } from '../../runtime/system/nd/dad-probe';
import { stableAddress } from '../../runtime/core/iid';
import { openInterface, usableLinkLocal } from '../../runtime/system/interface';
import { formatIPv6, parseIPv6, parsePrefix } from '../../runtime/core/ipv6';
import { NdClient, firstAdvertisement } from '../../runtime/system/nd/client';
import { NdSocket } from '../../runtime/system/nd/socket';
import { ICMP6_NA, ICMP6_NS, ICMP6_RA } from '../../runtime/core/nd-types';
import { run } from '../../vm/lab/run';
import { labUp, type Lab } from '../../vm/lab/lab';

const secret = Buffer.alloc(32, 7);
let lab: Lab;
t.before(async () => {
  lab = await labUp({ LAB_NAME: 'osh-claim', LAB_PREFIX: '2001:db8:77::/64', LAB_ROUTER_ADDR: '2001:db8:77::1', LAB_PEER_ADDR: '2001:db8:77::100', LAB_RETRANS_MS: '400' });
});
t.teardown(async () => lab?.down());

t.test('a conflict on the first stable address moves to DAD counter 1', async (t) => {
  const iface = openInterface(lab.hostIf);
  t.teardown(() => iface.close());
  const raSock = NdSocket.open({ netns: iface.netns, ifname: iface.link.name, ifindex: iface.link.index, types: [ICMP6_RA] });
  // From our link-local, so radvd answers at once by unicast (from :: it must multicast, and
  // multicast RAs are rate-limited to one per MIN_DELAY_BETWEEN_RAS = 3 s).
  const router = await firstAdvertisement(new NdClient({ transport: raSock, source: usableLinkLocal(iface.rtnl, iface.link.index), mac: iface.link.mac }), 3000);
  raSock.close();
  const retransMs = router.advertisement.retransTimer;
  t.equal(retransMs, 400, 'RetransTimer taken from the RA');

  const { address: prefix } = parsePrefix('2001:db8:77::/64');
  const candidate = (dadCounter: number) => stableAddress({ prefix, prefixLength: 64, name: 'web1', networkId: '', dadCounter, secret }).address;
  const first = formatIPv6(candidate(0));
  // The peer's kernel takes the counter-0 address first.
  const add = await run('ip', ['-n', lab.peerNetns, 'addr', 'add', `${first}/64`, 'dev', lab.peerIf, 'nodad']);
  t.equal(add.code, 0, add.stderr);
  t.teardown(() => run('ip', ['-n', lab.peerNetns, 'addr', 'del', `${first}/64`, 'dev', lab.peerIf]).then(() => undefined));

  const sock = NdSocket.open({ netns: iface.netns, ifname: iface.link.name, ifindex: iface.link.index, types: [ICMP6_NS, ICMP6_NA] });
  t.teardown(() => sock.close());
  const installed: string[] = [];
  const claim = await claimAddress({
    candidate,
    probe: (address) => detectDuplicate(sock, { target: address, transmits: 1, retransMs }),
    mode: 'strict',
    retries: 3,
    install: (a) => void installed.push(formatIPv6(a)),
    withdraw: () => undefined,
  });
  t.equal(claim.dadCounter, 1);
  t.equal(claim.attempts[0]?.verdict, 'duplicate');
  t.match(claim.attempts[0]?.evidence ?? '', /^NA from /);
  t.equal(claim.attempts[1]?.verdict, 'unique');
  t.same(installed, [formatIPv6(candidate(1))]);
  t.not(formatIPv6(candidate(1)), first);
  const took = claim.attempts[1]?.elapsedMs ?? 0;
  t.ok(took >= 390 && took < 900, `unique after one RetransTimer (${Math.round(took)} ms)`);
});

t.test('our own probes are not mistaken for another node, even with looping on', async (t) => {
  const iface = openInterface(lab.hostIf);
  t.teardown(() => iface.close());
  const sock = NdSocket.open({ netns: iface.netns, ifname: iface.link.name, ifindex: iface.link.index, types: [ICMP6_NS, ICMP6_NA] });
  t.teardown(() => sock.close());
  // Turn multicast loop back on: our NS now comes back to us, and only the nonce tells it apart.
  const { native, IPPROTO_IPV6 } = await import('../../runtime/system/native');
  native().setsockopt(sock.fd, IPPROTO_IPV6, 19 /* IPV6_MULTICAST_LOOP */, 1);
  const r = await detectDuplicate(sock, { target: parseIPv6('2001:db8:77::4242'), transmits: 3, retransMs: 150 });
  t.equal(r.verdict, 'unique');
  t.equal(r.sent, 3);
});
