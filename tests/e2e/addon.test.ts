// The native addon's own contract: errno-named errors, EAGAIN as null, options round-trip,
// ancillary data, and the uv_poll watcher.
import t from 'tap';
import { native, AF_INET6, SOCK_DGRAM, SOL_SOCKET, SO_RCVBUF, IPPROTO_IPV6 } from '../../runtime/system/native';
import { NetnsHandle } from '../../runtime/system/netns';
import { sockaddrIn6 } from '../../runtime/system/nd/socket';
import { parseIPv6 } from '../../runtime/core/ipv6';

const addon = native();

t.test('errors carry the errno name, number and syscall', async (t) => {
  const err = t.throws(() => addon.close(987654)) as NodeJS.ErrnoException;
  t.equal(err.code, 'EBADF');
  t.equal(err.errno, 9);
  t.equal(err.syscall, 'close');
  t.match(err.message, /^close: EBADF \(Bad file descriptor\)$/);
  t.throws(() => addon.socketat(-1, 12345, SOCK_DGRAM, 0), { code: 'EAFNOSUPPORT' });
  t.throws(() => addon.socketat(987654, AF_INET6, SOCK_DGRAM, 0), { code: 'EBADF', syscall: 'setns+socket' });
  t.throws(() => (addon.socketat as unknown as (...a: unknown[]) => number)('x'), TypeError);
});

t.test('setsockopt/getsockopt round-trip; recvmsg gives null on EAGAIN', async (t) => {
  const fd = addon.socketat(-1, AF_INET6, SOCK_DGRAM | addon.constants.SOCK_NONBLOCK, 0);
  t.teardown(() => addon.close(fd));
  addon.setsockopt(fd, SOL_SOCKET, SO_RCVBUF, 65536);
  t.ok(addon.getsockopt(fd, SOL_SOCKET, SO_RCVBUF, 4).readInt32LE(0) >= 65536, 'kernel doubles SO_RCVBUF');
  t.equal(addon.recvmsg(fd, 100, 0), null);
});

t.test('sendmsg/recvmsg over loopback with IPv6 ancillary data, and the watcher', async (t) => {
  const ns = NetnsHandle.current();
  const rx = addon.socketat(ns.fd, AF_INET6, SOCK_DGRAM | addon.constants.SOCK_NONBLOCK, 0);
  const tx = addon.socketat(ns.fd, AF_INET6, SOCK_DGRAM, 0);
  t.teardown(() => {
    addon.close(rx);
    addon.close(tx);
  });
  const loopback = parseIPv6('::1');
  const sa = sockaddrIn6(loopback, 0);
  sa.writeUInt16BE(47123, 2);
  addon.bind(rx, sa);
  addon.setsockopt(rx, IPPROTO_IPV6, 51 /* IPV6_RECVHOPLIMIT */, 1);
  addon.setsockopt(rx, IPPROTO_IPV6, 49 /* IPV6_RECVPKTINFO */, 1);

  const got = new Promise<NonNullable<ReturnType<typeof addon.recvmsg>>>((resolve) => {
    const handle = addon.watch(rx, addon.constants.UV_READABLE, (status) => {
      t.equal(status, 0);
      const m = addon.recvmsg(rx, 4, addon.constants.MSG_TRUNC); // shorter than the datagram: truncated, flagged, real length
      if (!m) return;
      addon.unwatch(handle);
      addon.unwatch(handle); // twice is harmless
      resolve(m);
    });
  });
  const hop = Buffer.alloc(4);
  hop.writeInt32LE(33);
  addon.sendmsg(tx, Buffer.from('hello'), sa, [{ level: IPPROTO_IPV6, type: 52 /* IPV6_HOPLIMIT */, data: hop }], 0);
  const m = await got;
  t.equal(m.data.toString(), 'hell');
  t.equal(m.length, 5);
  t.ok(m.flags & addon.constants.MSG_TRUNC, 'MSG_TRUNC');
  const hopLimit = m.control.find((c) => c.level === IPPROTO_IPV6 && c.type === 52);
  t.equal(hopLimit?.data.readInt32LE(0), 33, 'hop limit from the sender cmsg arrives as ancillary data');
  const pktinfo = m.control.find((c) => c.level === IPPROTO_IPV6 && c.type === 50);
  t.same(pktinfo?.data.subarray(0, 16), loopback, 'pktinfo destination');
  t.same(m.name.subarray(8, 24), loopback, 'sender address');
});

t.test('spawn_detached: a session of its own, stdio on /dev/null, the env given, never waited for', async (t) => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-spawn-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'out');
  // $$: the shell's pid; ps's sid and the targets of fds 0-2; the one variable given.
  const script = `printf '%s %s %s %s %s\\n' "$$" "$(cut -d' ' -f6 /proc/$$/stat)" "$(readlink /proc/$$/fd/0)" "$(readlink /proc/$$/fd/2)" "$OSH_X" > ${out}.tmp && mv ${out}.tmp ${out}`;
  const pid = addon.spawn_detached('/bin/sh', ['sh', '-c', script], ['OSH_X=given', 'PATH=/usr/bin:/bin']);
  t.ok(pid > 0, `pid ${pid}`);
  for (let i = 0; i < 100 && !fs.existsSync(out); i++) await new Promise((r) => setTimeout(r, 20));
  const [shell, sid, fd0, fd2, x] = fs.readFileSync(out, 'utf8').trim().split(' ');
  t.equal(shell, String(pid), 'the pid returned is the child');
  t.equal(sid, String(pid), 'its own session (setsid)');
  t.equal(fd0, '/dev/null', 'stdin /dev/null');
  t.equal(fd2, '/dev/null', 'stderr /dev/null');
  t.equal(x, 'given', 'the env given, only');
  t.throws(() => addon.spawn_detached('/nonexistent/x', ['x'], []), { code: 'ENOENT', syscall: 'posix_spawn' });
  t.throws(() => (addon.spawn_detached as unknown as (...a: unknown[]) => number)('/bin/sh', 'sh', []), TypeError);
});
