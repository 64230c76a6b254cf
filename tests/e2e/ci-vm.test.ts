// The CI VM runner itself (vm/ci-vm.sh): it boots Debian's kernel (not this machine's), the guest
// sees this machine's root read-only under a writable tmpfs overlay, it has no network device,
// the command's output comes back and its exit status is the runner's.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../vm/lab/run';

const RUNNER = path.join(__dirname, '..', '..', 'vm', 'ci-vm.sh');

t.test('ci-vm.sh run: Debian kernel with ipvlan, read-only root under an overlay, no NIC, exit status passed back', async (t) => {
  const probe = [
    'echo "kernel=$(uname -r)"',
    'echo "links=$(ip -o link show | awk -F": " \'{print $2}\' | tr "\\n" " ")"',
    'ip link add osh-v0 type veth peer name osh-v1',
    'echo "ipvlan=$(ip link add link osh-v0 name ipv-probe type ipvlan mode l3 2>&1 && echo yes)"',
    'echo "rootfs=$(awk \'$2 == "/" {print $3}\' /proc/mounts)"',
    'touch /etc/osh-vm-probe && echo "overlay-writable=yes"',
    'exit 7',
  ].join('; ');
  const r = await run('sh', [RUNNER, 'run', probe], { timeoutMs: 600000 });
  t.equal(r.code, 7, 'the command\'s exit status is the runner\'s');
  const kernel = /kernel=(\S+)/.exec(r.stdout)?.[1] ?? '';
  t.match(kernel, /-amd64$/, `Debian's kernel (${kernel})`);
  t.not(kernel, os.release(), 'not this machine\'s kernel');
  t.match(r.stdout, /ipvlan=yes/, 'ipvlan loads and an l3 link can be made');
  t.match(r.stdout, /rootfs=overlay/, 'root is an overlay');
  t.match(r.stdout, /overlay-writable=yes/, 'writable in the guest');
  t.match(r.stdout, /^links=lo\s*$/m, 'no network device but lo');
  t.notOk(fs.existsSync('/etc/osh-vm-probe'), 'the host\'s root was not written');
});
