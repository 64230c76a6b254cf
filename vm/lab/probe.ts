// The container's first process in the runtime tests (runc/crun/podman on the host, runc in the
// CI VM): it records what it sees at once — /proc/net/if_inet6, its global address, its routes
// and links — and binds httpd on [address]:8080, so the tests can check that the address was
// usable before the process started and that others reach that very listener.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePrefix } from '../../runtime/core/ipv6';

export const PROBE_SH = `#!/bin/sh
cat /proc/net/if_inet6 > /out/if_inet6
A=$(ip -6 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n 1)
echo "$A" > /out/address
mkdir -p /dev/shm/www && echo "hello from $A" > /dev/shm/www/index.html  # /dev/shm: per container; the rootfs is shared
if httpd -p "[$A]:8080" -h /dev/shm/www 2>/out/httpd.err; then echo bound > /out/bind; else echo failed > /out/bind; fi
ip -6 route > /out/routes
ip -o link > /out/links.tmp && mv /out/links.tmp /out/links  # renamed: complete once it exists
exec sleep 600
`;

/** Put the probe at /probe.sh in a rootfs from makeRootfs(). */
export function installProbe(rootfs: string): void {
  fs.writeFileSync(path.join(rootfs, 'probe.sh'), PROBE_SH, { mode: 0o755 });
}

export interface Seen {
  /** The first global address, as the container's first process saw it. */
  address: string;
  /** Still tentative (or missing) in /proc/net/if_inet6 at that moment. */
  tentative: boolean;
  /** "bound" when httpd could listen on [address]:8080 at once. */
  bind: string;
  routes: string;
  links: string;
}

/** What the probe recorded in its /out directory (waits until it has finished). */
export async function seen(out: string, timeoutMs = 10000): Promise<Seen> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(path.join(out, 'links')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const read = (f: string) => fs.readFileSync(path.join(out, f), 'utf8').trim();
  const address = read('address');
  const hex = address ? parsePrefix(`${address}/128`).address.toString('hex') : '';
  const line = read('if_inet6').split('\n').find((l) => hex && l.startsWith(hex));
  const flags = line ? parseInt(line.split(/\s+/)[4] ?? '0', 16) : -1;
  return { address, tentative: flags < 0 || (flags & 0x40) !== 0, bind: read('bind'), routes: read('routes'), links: read('links') };
}
