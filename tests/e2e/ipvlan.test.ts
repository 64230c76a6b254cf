// ipvlan l2/l3/l3s links through our rtnetlink client. This machine's kernel has no ipvlan (the
// VM suite runs it for real); here the request must fail with the kernel's own clear message.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { NetnsHandle } from '../../runtime/system/netns';
import { RtnetlinkSocket } from '../../runtime/system/rtnetlink/socket';
import { createSlave, deleteLink, findLink } from '../../runtime/system/rtnetlink/links';
import { NetlinkError } from '../../runtime/core/errors';

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
const hasIpvlan = ((): boolean => {
  try {
    execFileSync('modprobe', ['-q', 'ipvlan'], { stdio: 'ignore' });
  } catch {
    /* built in, or absent */
  }
  try {
    ip('link', 'add', 'osh-ipv-probe', 'link', 'lo', 'type', 'ipvlan');
    ip('link', 'del', 'osh-ipv-probe');
    return true;
  } catch {
    return false;
  }
})();

const NS = 'osh-t-ipvlan';
t.before(() => {
  ip('netns', 'add', NS);
  ip('link', 'add', 'osh-t-ipv0', 'type', 'veth', 'peer', 'name', 'osh-t-ipv1');
});
t.teardown(() => {
  try { ip('netns', 'del', NS); } catch { /* gone */ }
  try { ip('link', 'del', 'osh-t-ipv0'); } catch { /* gone */ }
});

for (const mode of ['l2', 'l3', 'l3s'] as const) {
  t.test(`ipvlan ${mode}`, async (t) => {
    const ns = NetnsHandle.open(`/run/netns/${NS}`);
    const host = RtnetlinkSocket.open();
    const inside = RtnetlinkSocket.open(ns);
    t.teardown(() => {
      inside.close();
      host.close();
      ns.close();
    });
    const parent = findLink(host, 'osh-t-ipv0');
    if (!parent) throw new Error('parent missing');
    const create = () => createSlave(host, { parentIndex: parent.index, name: 'eth0', target: ns, spec: { kind: 'ipvlan', mode } });
    if (!hasIpvlan) {
      const err = t.throws(create) as NetlinkError;
      t.ok(err instanceof NetlinkError);
      t.equal(err.code, 'EOPNOTSUPP');
      t.equal(err.message, `create ipvlan eth0 (${mode}): EOPNOTSUPP: Unknown device type`);
      t.notOk(findLink(inside, 'eth0'), 'nothing half-made');
      return;
    }
    create();
    const link = findLink(inside, 'eth0');
    t.equal(link?.kind, 'ipvlan');
    t.match(ip('-n', NS, '-d', 'link', 'show', 'eth0'), new RegExp(`ipvlan\\s+mode ${mode} bridge`));
    if (link) deleteLink(inside, link.index);
  });
}
