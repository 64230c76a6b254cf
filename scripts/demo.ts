// `npm run demo`: a self-made lab (router with radvd, BIND9, two hosts), the hook attached to one
// container each under runc, crun and podman on host A and one on host B, what each got and how
// fast, every name in DNS, the router reaching each, containers on the two hosts finding each
// other by name, a restricted container's firewall, then stop — and nothing left. Bundled to dist/demo.js by scripts/bundle.js.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../vm/lab/run';
import { labUp, type Lab } from '../vm/lab/lab';
import { dig } from '../vm/lab/dns';
import { makeRootfs, startContainer, type RunningContainer, type RuntimeName } from '../vm/lab/containers';
import type { ContainerRecord } from '../runtime/core/record';

const ROOT = path.join(__dirname, '..');
const CLI = path.join(ROOT, 'dist', 'oci-slaac-hook.js');
const bold = (s: string): string => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const say = (s: string): void => console.log(`\n${bold(`== ${s}`)}`);

const PROBE = `#!/bin/sh
A=$(ip -6 -o addr show scope global | awk '{print $4}' | cut -d/ -f1 | head -n 1)
mkdir -p /dev/shm/www && echo "hello from $(hostname) at $A" > /dev/shm/www/index.html
httpd -p "[$A]:80" -h /dev/shm/www
exec sleep 600
`;

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-demo-'));
  const stateDir = path.join(work, 'state');
  const config = path.join(work, 'config.toml');
  const env = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', `OCI_SLAAC_HOOK_CONFIG=${config}`, `OCI_SLAAC_HOOK_STATE_LIB=${path.join(work, 'lib')}`];
  const cli = (...args: string[]) => run(process.execPath, [CLI, ...args], { env: { OCI_SLAAC_HOOK_CONFIG: config } });
  const containers: RunningContainer[] = [];
  let lab: Lab | undefined;
  try {
    say('Lab: a router (radvd), an authoritative DNS (BIND9) and two hosts on one L2 segment, in namespaces of its own');
    lab = await labUp({ LAB_NAME: 'osh-demo', LAB_DNS: 'bind', LAB_HOST_ADDR: '2001:db8:1::2/64', LAB_HOSTB: '1' });
    console.log(lab.upOutput.trim());
    const labRef = lab;

    say(`What the router advertises: oci-slaac-hook ra --interface ${lab.hostIf}`);
    console.log((await cli('ra', '--interface', lab.hostIf)).stdout.trim());

    say('The hook on host A, configured for its NIC and the lab DNS');
    const dnsSection = (l: Lab): string =>
      `[dns]\nserver = "[${l.dnsAddr}]:${l.dnsPort}"\nzone = "${l.dnsZone}"\nreverse_zone = "${l.dnsReverseZone}"\nkey_file = "${l.dnsKeyFile}"\nttl = 60\n`;
    fs.writeFileSync(config, `parent = ${JSON.stringify(lab.hostIf)}\nstate_dir = ${JSON.stringify(stateDir)}\n${dnsSection(lab)}`);
    console.log(fs.readFileSync(config, 'utf8').trim());
    const rootfs = path.join(work, 'rootfs');
    await makeRootfs(rootfs);
    fs.writeFileSync(path.join(rootfs, 'probe.sh'), PROBE, { mode: 0o755 });
    const hooksDir = path.join(work, 'hooks.d');
    fs.mkdirSync(hooksDir);
    for (const stage of ['prestart', 'poststop']) {
      const shipped = JSON.parse(fs.readFileSync(path.join(ROOT, 'hooks', 'hooks.d', `oci-slaac-hook-${stage}.json`), 'utf8')) as { hook: { path: string; args: string[]; env: string[] } };
      shipped.hook = { path: process.execPath, args: shipped.hook.args.map((a) => a.replace('/usr/local/lib/oci-slaac-hook', ROOT)), env };
      fs.writeFileSync(path.join(hooksDir, `oci-slaac-hook-${stage}.json`), JSON.stringify(shipped));
    }
    const hook = (stage: string) => ({ path: process.execPath, args: ['node', CLI, stage], env, timeout: 30 });

    say('One container each under runc, crun and podman');
    fs.writeFileSync(path.join(rootfs, 'etc', 'resolv.conf'), `nameserver ${lab.dnsAddr}\nsearch ${lab.dnsZone}\n`);
    const rows: string[][] = [['RUNTIME', 'CONTAINER', 'IF', 'ADDRESS', 'USABLE AFTER', 'START (runtime+hook)', 'DNS']];
    for (const runtime of ['runc', 'crun', 'podman'] as RuntimeName[]) {
      const id = `web-${runtime}`;
      const t0 = Date.now();
      const r = await startContainer(runtime, {
        id,
        rootfs,
        args: ['/bin/sh', '/probe.sh'],
        ...(runtime === 'podman' ? { hooksDir } : { hooks: { createRuntime: [hook('createRuntime')], poststop: [hook('poststop')] } }),
      });
      if (r.code !== 0 || !r.container) throw new Error(`${runtime}: ${r.stderr.trim()}`);
      containers.push(r.container);
      const wall = Date.now() - t0;
      const rec = (JSON.parse((await cli('status', '--json')).stdout) as ContainerRecord[]).find((x) => x.name === id);
      rows.push([runtime, id, rec?.interface.name ?? '?', rec?.addresses.map((a) => a.address).join(' ') ?? '?', `${rec?.timings.totalMs ?? '?'} ms`, `${wall} ms`, rec?.dns ? `${rec.dns.name} (${rec.dns.status})` : '-']);
    }
    const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length)));
    for (const row of rows) console.log(row.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  '));

    say('oci-slaac-hook status');
    console.log((await cli('status')).stdout.trim());

    say('The router reaches each container: ping, and a page from its own web server');
    for (const rec of JSON.parse((await cli('status', '--json')).stdout) as ContainerRecord[]) {
      const a = rec.addresses[0]?.address ?? '';
      const ping = await run('ip', ['netns', 'exec', labRef.routerNetns, 'ping', '-6', '-c', '1', '-W', '2', a]);
      const page = await run('ip', ['netns', 'exec', labRef.routerNetns, 'curl', '-s', '-m', '3', `http://[${a}]/`]);
      console.log(`${rec.name.padEnd(11)} ping ${ping.code === 0 ? 'ok  ' : 'FAIL'} ${(/time=[\d.]+ ms/.exec(ping.stdout) ?? [''])[0].padEnd(14)} ${page.stdout.trim() || 'no page'}`);
    }

    say('Host B: its own hook, in its own network namespace, on its own NIC, publishing into the same zone');
    const hostB = lab.hostbNetns ?? '';
    const configB = path.join(work, 'config-b.toml');
    fs.writeFileSync(configB, `parent = ${JSON.stringify(lab.hostbIf)}\nstate_dir = ${JSON.stringify(path.join(work, 'state-b'))}\n${dnsSection(lab)}`);
    const bNetns = 'osh-demo-b1';
    await run('ip', ['netns', 'add', bNetns]);
    const bBundle = path.join(work, 'bundle-b');
    fs.mkdirSync(bBundle);
    fs.writeFileSync(path.join(bBundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', linux: { namespaces: [{ type: 'network', path: `/run/netns/${bNetns}` }] }, annotations: { 'oci-slaac-hook.name': 'web-b' } }));
    const hookB = (stage: string, status: string) =>
      run(process.execPath, [CLI, stage, '--config', configB], { netns: hostB, input: JSON.stringify({ ociVersion: '1.0.2', id: 'web-b', status, bundle: bBundle }), env: { OCI_SLAAC_HOOK_STATE_LIB: path.join(work, 'lib-b') } });
    const startedB = await hookB('createRuntime', 'creating');
    console.log(startedB.stderr.trim());
    const addrB = (JSON.parse(fs.readFileSync(path.join(work, 'state-b', 'web-b.json'), 'utf8')) as ContainerRecord).addresses[0]?.address ?? '';
    const wwwB = path.join(work, 'www-b');
    fs.mkdirSync(wwwB);
    fs.writeFileSync(path.join(wwwB, 'index.html'), `hello from web-b on host B at ${addrB}\n`);
    await run('ip', ['netns', 'exec', bNetns, 'busybox', 'httpd', '-p', `[${addrB}]:80`, '-h', wwwB]);

    say(`The zone ${lab.dnsZone} on the lab's BIND9 (dig)`);
    for (const name of ['web-runc', 'web-crun', 'web-podman', 'web-b']) {
      const aaaa = await dig(lab, `${name}.${lab.dnsZone}`, 'AAAA');
      console.log(`${`${name}.${lab.dnsZone}`.padEnd(24)} AAAA ${aaaa.join(' ') || '-'}`);
    }

    say('Across hosts, by name: a container on host A fetches from web-b on host B, and back');
    const out = path.join(work, 'out-client');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(rootfs, 'client.sh'), `#!/bin/sh\nprintf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 web-b.${lab.dnsZone} 80 | tail -n 1 > /out/page\nexec sleep 60\n`, { mode: 0o755 });
    const client = await startContainer('runc', { id: 'client-a', rootfs, args: ['/bin/sh', '/client.sh'], outDir: out, hooks: { createRuntime: [hook('createRuntime')], poststop: [hook('poststop')] } });
    if (client.container) containers.push(client.container);
    const pageFile = path.join(out, 'page');
    for (let i = 0; i < 50 && !(fs.existsSync(pageFile) && fs.statSync(pageFile).size > 0); i++) await new Promise((r) => setTimeout(r, 100));
    console.log(`client-a (host A) → http://web-b.${lab.dnsZone}/ : ${fs.existsSync(pageFile) ? fs.readFileSync(pageFile, 'utf8').trim() : 'nothing'}`);
    const webRunc = (await dig(lab, `web-runc.${lab.dnsZone}`, 'AAAA'))[0] ?? '';
    const back = await run('ip', ['netns', 'exec', bNetns, 'curl', '-s', '-m', '3', `http://[${webRunc}]/`]);
    console.log(`web-b (host B) → web-runc.${lab.dnsZone} = ${webRunc} : ${back.stdout.trim() || 'nothing'}`);

    say('Policy: a restricted container exposing tcp:80 alone (annotations; nf_tables in its own netns, made by the hook)');
    const guardedStart = await startContainer('runc', {
      id: 'web-guarded',
      rootfs,
      args: ['/bin/sh', '/probe.sh'],
      annotations: { 'oci-slaac-hook.policy': 'restricted', 'oci-slaac-hook.expose': 'tcp:80' },
      hooks: { createRuntime: [hook('createRuntime')], poststop: [hook('poststop')] },
    });
    if (guardedStart.code !== 0 || !guardedStart.container) throw new Error(`web-guarded: ${guardedStart.stderr.trim()}`);
    containers.push(guardedStart.container);
    const guarded = (JSON.parse((await cli('status', '--json')).stdout) as ContainerRecord[]).find((x) => x.name === 'web-guarded');
    const guardedAddr = guarded?.addresses[0]?.address ?? '';
    console.log((await run('nsenter', [`--net=${guarded?.netns.path ?? ''}`, 'nft', 'list', 'table', 'inet', 'oci_slaac_hook'])).stdout.trim());
    for (let i = 0; i < 30 && (await run('ip', ['netns', 'exec', labRef.routerNetns, 'curl', '-s', '-m', '1', `http://[${guardedAddr}]/`])).code !== 0; i++) await new Promise((r) => setTimeout(r, 100));
    for (const [what, a] of [['web-runc (open)', webRunc], ['web-guarded (restricted)', guardedAddr]] as const) {
      const page = await run('ip', ['netns', 'exec', labRef.routerNetns, 'curl', '-s', '-m', '2', `http://[${a}]/`]);
      const other = await run('ip', ['netns', 'exec', labRef.routerNetns, 'curl', '-s', '-m', '2', `http://[${a}]:81/`]);
      const fate = other.code === 7 ? 'refused (nothing listens there)' : other.code === 28 ? 'dropped (no answer in 2 s)' : `curl exit ${other.code}`;
      console.log(`router → ${what.padEnd(25)} :80 ${page.code === 0 ? 'page' : 'nothing'}; :81 ${fate}`);
    }

    say('Stopping them');
    for (const c of containers.splice(0)) await c.stop();
    await run('pkill', ['-f', `busybox httpd -p \\[${addrB}\\]:80`]);
    await hookB('poststop', 'stopped');
    await run('ip', ['netns', 'del', bNetns]);
    const names = (await Promise.all(['web-runc', 'web-crun', 'web-podman', 'web-b', 'client-a', 'web-guarded'].map((n) => dig(lab as Lab, `${n}.${lab?.dnsZone ?? ''}`, 'AAAA')))).flat();
    console.log(`DNS records left: ${names.length}`);
    const left = (await cli('status', '--json')).stdout.trim();
    const links = (await run('ip', ['-o', '-d', 'link', 'show'])).stdout.split('\n').filter((l) => l.includes('macvlan')).length;
    console.log(`state files left: ${left === '[]' ? 0 : left}; macvlan links left: ${links}`);
  } finally {
    for (const c of containers) await c.stop().catch(() => undefined);
    if (lab) await lab.down();
    fs.rmSync(work, { recursive: true, force: true });
    say('Lab torn down');
  }
}

main().catch((err: unknown) => {
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
