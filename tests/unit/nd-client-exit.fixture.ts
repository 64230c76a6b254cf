// Run by nd-client.test.ts as a child process: a client on the system clock solicits over a
// socketpair, hears RAs, re-solicits, and is stopped (unless argv says "nostop"). Nothing else is
// cleaned up: the socketpair's fds stay open, so the process exits only if stop() left no timer
// and no watcher behind.
import { systemClock } from '../../runtime/system/clock';
import { NdClient } from '../../runtime/system/nd/client';
import { pairLink } from './nd-pair';

const { transport, router } = pairLink(systemClock);
const client = new NdClient({ transport, retransmitMs: 10, random: () => 0 });
let ras = 0;
client.on('ra', () => {
  ras++;
  if (ras === 1) {
    client.solicit(); // a new round: RS now, retransmissions armed until the next RA
    router.waitForRs(4).then(() => {
      router.close(); // the router's end stops watching: only the client can keep the process alive
      if (process.argv[2] !== 'nostop') client.stop();
      process.stdout.write(`ras=${ras} solicitations=${client.solicitations} state=${client.state}\n`);
    });
  }
});
client.start();
void router.waitForRs(2).then(() => router.advertise());
