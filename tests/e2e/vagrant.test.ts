// The Vagrant testbed's Vagrantfile: `vagrant validate` accepts it under each provider it
// configures (libvirt, VirtualBox), rejects broken copies (so this test can fail), and its VMs are
// provisioned by the lab's role scripts (vm/roles/*.sh), not by a second copy of their logic.
//
// Vagrant validates the common config and only the *active* provider's block (2.3.4,
// plugins/kernel_v2/config/vm.rb; `--ignore-provider` skips that block altogether), so each
// provider gets its own run with VAGRANT_DEFAULT_PROVIDER. Vagrant wants the provider to be
// usable before it validates its block: VirtualBox is not installed on the CI machine, so that
// run puts on PATH a VBoxManage stand-in that only answers `--version` (the one call Vagrant
// makes for validation); the validation itself is Vagrant's own. Each run works on a copy of the
// Vagrantfile in a scratch directory (VAGRANT_CWD), so no .vagrant/ lands in the checkout.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run, type RunResult } from '../../vm/lab/run';

const REPO = path.join(__dirname, '..', '..');
const VAGRANTFILE = path.join(REPO, 'Vagrantfile');
const PROVIDERS = ['libvirt', 'virtualbox'] as const;
type Provider = (typeof PROVIDERS)[number];

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-vagrant-'));
t.teardown(() => fs.rmSync(scratch, { recursive: true, force: true }));

// A VBoxManage that reports a supported VirtualBox version and does nothing else.
const fakeBin = path.join(scratch, 'bin');
fs.mkdirSync(fakeBin);
fs.writeFileSync(
  path.join(fakeBin, 'VBoxManage'),
  '#!/bin/sh\ncase "$1" in --version) echo 7.0.14r161095 ;; *) echo "VBoxManage stand-in: $*" >&2; exit 1 ;; esac\n',
  { mode: 0o755 },
);

let copies = 0;
async function validate(provider: Provider, text: string, env: Record<string, string> = {}): Promise<RunResult> {
  const dir = path.join(scratch, `v${copies++}`);
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'Vagrantfile'), text);
  const PATH = provider === 'virtualbox' ? `${fakeBin}:${process.env.PATH ?? ''}` : process.env.PATH;
  return run('vagrant', ['validate', '--no-color', '--no-tty'], {
    cwd: dir,
    timeoutMs: 90_000,
    env: { VAGRANT_CWD: dir, VAGRANT_DEFAULT_PROVIDER: provider, VAGRANT_CHECKPOINT_DISABLE: '1', PATH, ...env },
  });
}

/** The Vagrantfile with `after` inserted after the first line equal to `anchor` (trimmed). */
function insertAfter(text: string, anchor: string, after: string): string {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.trim() === anchor);
  if (i < 0) throw new Error(`no line "${anchor}" in the Vagrantfile`);
  lines.splice(i + 1, 0, after);
  return lines.join('\n');
}

const text = fs.readFileSync(VAGRANTFILE, 'utf8');

// Each `vagrant validate` starts Ruby and loads every plugin: ~1.5 s here, 20-30 s in a TCG VM.
// The runs are independent (own directory, no machine state): they go in parallel.
t.setTimeout(600_000);

t.test('vagrant is installed', async (t) => {
  const [r, plugins] = await Promise.all([
    run('vagrant', ['--version'], { env: { VAGRANT_CHECKPOINT_DISABLE: '1' } }),
    run('vagrant', ['plugin', 'list'], { env: { VAGRANT_CHECKPOINT_DISABLE: '1' }, timeoutMs: 90_000 }),
  ]);
  t.equal(r.code, 0, r.stderr || 'vagrant --version (vm/setup.sh installs vagrant and vagrant-libvirt)');
  t.match(r.stdout, /^Vagrant \d+\.\d+/);
  t.match(plugins.stdout, /vagrant-libvirt/, 'the vagrant-libvirt plugin');
});

t.test('vagrant validate accepts it under each provider', async (t) => {
  // OSH_VAGRANT_DRIVER only changes the libvirt block.
  const runs: [string, Provider, Record<string, string>][] = [
    ['libvirt', 'libvirt', {}],
    ['libvirt, OSH_VAGRANT_DRIVER=qemu', 'libvirt', { OSH_VAGRANT_DRIVER: 'qemu' }],
    ['virtualbox', 'virtualbox', {}],
  ];
  const results = await Promise.all(runs.map(([, provider, env]) => validate(provider, text, env)));
  runs.forEach(([what], i) => {
    const r = results[i]!;
    t.equal(r.code, 0, `${what}: ${r.stdout}\n${r.stderr}`);
    t.match(r.stdout, /validated successfully/, what);
    t.notMatch(r.stdout, /Ignoring provider config/, `${what}: the provider block was validated, not skipped`);
  });
});

t.test('broken copies fail validation', async (t) => {
  // An unknown setting in each provider's block fails under that provider (proof that the block
  // is read); an unknown common setting fails; a bad OSH_VAGRANT_DRIVER is refused.
  const runs: [string, Provider, string, Record<string, string>, RegExp][] = [
    ['lv.nosuch = 1', 'libvirt', insertAfter(text, 'lv.driver = DRIVER', 'lv.nosuch = 1'), {}, /shouldn't exist: nosuch/],
    ['vb.nosuch = 1', 'virtualbox', insertAfter(text, 'vb.gui = false', 'vb.nosuch = 1'), {}, /shouldn't exist: nosuch/],
    ['m.vm.nosuch = 1', 'libvirt', insertAfter(text, 'm.vm.hostname = "osh-#{name}"', 'm.vm.nosuch = 1'), {}, /shouldn't exist: nosuch/],
    ['OSH_VAGRANT_DRIVER=xen', 'libvirt', text, { OSH_VAGRANT_DRIVER: 'xen' }, /OSH_VAGRANT_DRIVER must be kvm or qemu/],
  ];
  const results = await Promise.all(runs.map(([, provider, broken, env]) => validate(provider, broken, env)));
  runs.forEach(([what, provider, , , error], i) => {
    const r = results[i]!;
    t.not(r.code, 0, `${what} under ${provider} must fail`);
    t.match(`${r.stdout}\n${r.stderr}`, error, `${what} under ${provider}: the error says why`);
  });
});

t.test('provisioning runs the lab role scripts, not a copy of them', async (t) => {
  // The three VMs and the role each runs; the roles exist; the Vagrantfile runs them from the
  // synced repository and repeats none of their work (no radvd.conf, no sysctl, no `ip addr`).
  t.match(text, /ROLE_UP = <<~'SH'[\s\S]*exec sh "\$LAB_SYNC\/vm\/roles\/\$1\.sh" up/);
  for (const [vm, role] of [['router', 'router'], ['host', 'host'], ['peer', 'peer'], ['peer', 'dns']]) {
    t.ok(fs.existsSync(path.join(REPO, 'vm', 'roles', `${role}.sh`)), `vm/roles/${role}.sh exists`);
    t.match(text, new RegExp(`"${vm}" => \\{[\\s\\S]*?\\["${role}", "LAB_${role.toUpperCase()}_IF"`), `${vm} runs ${role}.sh`);
  }
  t.match(text, /"LAB_LAN_NETNS" => ""/, 'VM mode: no lab bridge netns');
  t.match(text, /sh vm\/setup\.sh/, 'the host VM is set up by vm/setup.sh');
  for (const forbidden of [/AdvSendAdvert/, /radvd\s+-C/, /accept_ra/, /ip\s+(-6\s+)?addr\s+(add|replace)/, /sysctl/]) {
    t.notMatch(text, forbidden, `no role logic in the Vagrantfile (${forbidden})`);
  }
});
