// A syslog socket of the test's own (AF_UNIX datagram, like /dev/log), to read what the hook logs.
import * as fs from 'node:fs';
import { native } from '../../runtime/system/native';

export interface SyslogListener {
  path: string;
  /** Every message received so far. */
  read(): string[];
  close(): void;
}

export function syslogListener(path: string): SyslogListener {
  const addon = native();
  fs.rmSync(path, { force: true });
  const fd = addon.socketat(-1, 1 /* AF_UNIX */, 2 /* SOCK_DGRAM */ | addon.constants.SOCK_NONBLOCK, 0);
  const sun = Buffer.alloc(2 + Buffer.byteLength(path) + 1);
  sun.writeUInt16LE(1, 0);
  sun.write(path, 2);
  addon.bind(fd, sun);
  const seen: string[] = [];
  return {
    path,
    read: () => {
      for (let m = addon.recvmsg(fd, 8192, 0); m; m = addon.recvmsg(fd, 8192, 0)) seen.push(m.data.toString());
      return [...seen];
    },
    close: () => {
      addon.close(fd);
      fs.rmSync(path, { force: true });
    },
  };
}
