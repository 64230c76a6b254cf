// nf_tables from our own NETLINK_NETFILTER socket against the real kernel, in a lab of three
// network namespaces on one link: nfa-c (the "container", 2001:db8:a1::1 on nfa0), nfa-r (the
// "router", 2001:db8:a1::2 on a bridge) and nfa-x (a member of network "blue", 2001:db8:a1::3),
// the latter two bridged in nfa-r. `nft` is used only to look at the result.
import t from 'tap';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { NetlinkError } from '../../runtime/core/errors';
import type { Policy } from '../../runtime/core/policy';
import { NetnsHandle } from '../../runtime/system/netns';
import { NftHandle } from '../../runtime/system/nftables';

const C = 'nfa-c';
const R = 'nfa-r';
const X = 'nfa-x';
const ADDR_C = '2001:db8:a1::1';
const ADDR_R = '2001:db8:a1::2';
const ADDR_X = '2001:db8:a1::3';
const TABLE = 'oci_slaac_hook';
const TAG = 'osh:test-fingerprint';

const ip = (...args: string[]): string => execFileSync('ip', args, { encoding: 'utf8' });
const nft = (ns: string, ...args: string[]): string =>
  execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function dropNetns(ns: string): void {
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  } catch {
    /* none */
  }
}

const POLICY: Policy = {
  mode: 'restricted',
  expose: [{ proto: 'tcp', from: 8080, to: 8080 }],
  networks: ['blue'],
  allowFrom: [{ prefix: '2001:db8:ff::', length: 48 }], // not the lab's: nobody here is in it
  echo: true,
};

/** A TCP connection from `ns` to [host]:port: 'hi' when the listener's greeting arrived, else why not (700 ms to connect). */
function connect(ns: string, host: string, port: number): string {
  const script = `
    const s = require('net').connect({ host: ${JSON.stringify(host)}, port: ${port} });
    const give = (w) => { console.log(w); process.exit(0); };
    const timer = setTimeout(() => give('timeout'), 700);
    s.on('data', (d) => { clearTimeout(timer); give(String(d).trim()); });
    s.on('error', (e) => give('error ' + e.code));`;
  return ip('netns', 'exec', ns, 'node', '-e', script).trim();
}

/** TCP listeners in `ns` that greet with "hi"; resolves once they listen. */
function listen(ns: string, ports: number[]): Promise<ChildProcess> {
  const script = `
    const net = require('net');
    let n = 0;
    for (const p of ${JSON.stringify(ports)}) net.createServer((s) => s.end('hi\\n')).listen(p, '::', () => { if (++n === ${ports.length}) console.log('ready'); });`;
  const child = spawn('ip', ['netns', 'exec', ns, 'node', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (String(d).includes('ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`listener in ${ns} exited ${code}`)));
  });
}

const ping = (from: string, to: string): boolean => {
  try {
    ip('netns', 'exec', from, 'ping', '-6', '-c', '1', '-W', '1', to);
    return true;
  } catch {
    return false;
  }
};

const listeners: ChildProcess[] = [];
let netns: NetnsHandle;
let nfh: NftHandle;

t.before(async () => {
  t.teardown(() => {
    nfh?.close();
    netns?.close();
    for (const l of listeners) l.kill();
    for (const ns of [C, R, X]) dropNetns(ns);
  });
  for (const ns of [C, R, X]) {
    dropNetns(ns); // a leftover from an earlier run, if any
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
  }
  ip('-n', R, 'link', 'add', 'nfbr', 'type', 'bridge', 'mcast_snooping', '0');
  ip('link', 'add', 'nfa0', 'netns', C, 'type', 'veth', 'peer', 'name', 'nfa1', 'netns', R);
  ip('link', 'add', 'nfx0', 'netns', X, 'type', 'veth', 'peer', 'name', 'nfx1', 'netns', R);
  ip('-n', R, 'link', 'set', 'nfa1', 'master', 'nfbr');
  ip('-n', R, 'link', 'set', 'nfx1', 'master', 'nfbr');
  for (const [ns, dev] of [[C, 'nfa0'], [R, 'nfa1'], [R, 'nfx1'], [R, 'nfbr'], [X, 'nfx0']] as const) ip('-n', ns, 'link', 'set', dev, 'up');
  ip('-n', C, 'addr', 'add', `${ADDR_C}/64`, 'dev', 'nfa0', 'nodad');
  ip('-n', R, 'addr', 'add', `${ADDR_R}/64`, 'dev', 'nfbr', 'nodad');
  ip('-n', X, 'addr', 'add', `${ADDR_X}/64`, 'dev', 'nfx0', 'nodad');
  listeners.push(await listen(C, [8080, 8081]), await listen(R, [9090]));
  netns = NetnsHandle.open(`/run/netns/${C}`);
  nfh = NftHandle.open(netns);
});

t.test('the lab works before any table', async (t) => {
  t.equal(connect(R, ADDR_C, 8081), 'hi', 'the router reaches 8081 with nothing in the way');
});

t.test('install: the whole table in one batch, as nft lists it', async (t) => {
  nfh.install(TABLE, 'nfa0', POLICY, { blue: [ADDR_X] }, TAG);
  const listed = nft(C, 'list', 'table', 'inet', TABLE);
  for (const line of [
    'set net_blue {',
    'type ipv6_addr',
    `elements = { ${ADDR_X} }`,
    'type filter hook input priority filter; policy accept;',
    'iifname "nfa0" jump guard',
    'ct state established,related accept',
    'icmpv6 type 1-4 accept',
    'icmpv6 type 130-137 accept',
    'icmpv6 type mld2-listener-report accept',
    'icmpv6 type echo-request accept',
    'ip6 saddr 2001:db8:ff::/48 accept',
    'ip6 saddr @net_blue accept',
    'tcp dport 8080 accept',
    `drop comment "${TAG}"`,
  ]) {
    t.ok(listed.includes(line), `nft lists: ${line}`);
  }
  const guard = listed.slice(listed.indexOf('chain guard'));
  t.ok(guard.indexOf('ct state') < guard.indexOf('tcp dport 8080') && guard.indexOf('tcp dport 8080') < guard.indexOf('drop comment'), 'rules in order');

  const view = nfh.read(TABLE);
  t.same(view?.chains, ['input', 'guard']);
  t.same(view?.sets, { net_blue: [ADDR_X] });
  t.same(
    view?.rules.map((r) => r.chain),
    ['input', ...Array(9).fill('guard')],
    'one input rule, nine guard rules',
  );
  t.same(view?.rules[0]?.exprs, ['meta', 'cmp', 'immediate']);
  t.same(view?.rules.at(-1)?.exprs, ['counter', 'immediate']);
  t.equal(view?.rules.at(-1)?.comment, TAG);
  t.ok(view?.rules.every((r, i) => i === 0 || (r.handle ?? 0) > (view.rules[i - 1]?.handle ?? 0)), 'handles increase');
});

t.test('exposed port open, others closed; members of the network get in', async (t) => {
  t.equal(connect(R, ADDR_C, 8080), 'hi', 'the router reaches the exposed 8080');
  t.equal(connect(R, ADDR_C, 8081), 'timeout', 'the router does not reach 8081 (dropped)');
  t.equal(connect(X, ADDR_C, 8081), 'hi', 'a member of blue reaches 8081');
  t.match(nft(C, 'list', 'chain', 'inet', TABLE, 'guard'), /counter packets [1-9]\d* bytes \d+ drop/, 'the drop counted');
});

t.test('setMembers replaces the set atomically', async (t) => {
  nfh.setMembers(TABLE, 'blue', []);
  t.same(nfh.read(TABLE)?.sets, { net_blue: [] });
  t.equal(connect(X, ADDR_C, 8081), 'timeout', 'no longer a member: dropped');
  nfh.setMembers(TABLE, 'blue', [ADDR_X, '2001:db8:a1::99']);
  t.same(nfh.read(TABLE)?.sets.net_blue?.sort(), [ADDR_X, '2001:db8:a1::99']);
  t.equal(connect(X, ADDR_C, 8081), 'hi', 'a member again');
  nfh.setMembers(TABLE, 'blue', ['2001:db8:a1::99']);
  t.same(nfh.read(TABLE)?.sets, { net_blue: ['2001:db8:a1::99'] }, 'flush + add in one batch: only the new members');
  t.throws(() => nfh.setMembers(TABLE, 'nosuch', [ADDR_X]), { name: 'TransactionError', code: 'ENOENT', message: /DELSETELEM net_nosuch/ });
});

t.test('the container\'s own connections and their replies pass', async (t) => {
  t.equal(connect(C, ADDR_R, 9090), 'hi', 'outbound to the router and the reply back in (ct established)');
});

t.test('neighbour discovery still works through the guard', async (t) => {
  ip('-n', R, '-6', 'neigh', 'flush', 'dev', 'nfbr');
  connect(R, ADDR_C, 8081); // dropped, but the router had to resolve ::1 first
  const entry = ip('-n', R, '-6', 'neigh', 'show', ADDR_C);
  t.match(entry, /REACHABLE|STALE|DELAY|PROBE/, `the router resolved the container: ${entry.trim()}`);
  t.notMatch(entry, /FAILED|INCOMPLETE/);
});

t.test('echo request follows policy.echo; install replaces the table', async (t) => {
  t.ok(ping(R, ADDR_C), 'ping answered with echo true');
  nfh.install(TABLE, 'nfa0', { ...POLICY, echo: false }, { blue: [] }, `${TAG}-2`);
  t.notOk(ping(R, ADDR_C), 'ping dropped with echo false');
  const view = nfh.read(TABLE);
  t.equal(view?.rules.at(-1)?.comment, `${TAG}-2`, 'the new table');
  t.equal(view?.rules.length, 9, 'one rule fewer');
  t.equal((nft(C, 'list', 'tables').match(new RegExp(`table inet ${TABLE}\\b`, 'g')) ?? []).length, 1, 'one table of that name');
});

t.test('allowFrom: a prefix is let in', async (t) => {
  nfh.install(TABLE, 'nfa0', { ...POLICY, allowFrom: [{ prefix: ADDR_R, length: 128 }] }, {}, TAG);
  t.equal(connect(R, ADDR_C, 8081), 'hi', 'the router, inside the allowed prefix, reaches 8081');
  t.equal(connect(X, ADDR_C, 8081), 'timeout', '::3, outside it and no member, does not');
  t.match(nft(C, 'list', 'table', 'inet', TABLE), new RegExp(`ip6 saddr ${ADDR_R} accept`));
});

t.test('a refused batch changes nothing and names the failing message', async (t) => {
  const before = nft(C, 'list', 'table', 'inet', TABLE);
  const long = 'x'.repeat(300); // the set name exceeds NFT_SET_MAXNAMELEN
  let caught: unknown;
  try {
    nfh.install('oci_bad', 'nfa0', { ...POLICY, networks: [long] }, {}, TAG);
  } catch (err) {
    caught = err;
  }
  t.ok(caught instanceof NetlinkError, 'a NetlinkError');
  const e = caught as NetlinkError;
  t.match(e.message, /^install nf_tables table inet oci_bad: NEWSET net_x+: ERANGE/, `names the message: ${e.message.replace(/x{20,}/, 'x…')}`);
  t.equal(e.errno, 34);
  t.match(e.extack, /NFTA_SET_NAME$/, `with the kernel's extended ack and the attribute it points at: ${e.extack}`);
  t.equal(nfh.read('oci_bad'), undefined, 'no table left behind (the batch was aborted)');
  t.throws(() => nft(C, 'list', 'table', 'inet', 'oci_bad'), 'nft sees none either');

  t.throws(() => nfh.install(TABLE, 'nfa0', { ...POLICY, networks: [long] }, {}, 'replaced?'), { name: 'TransactionError', code: 'ERANGE' }, 'replacing with a bad table fails');
  t.equal(nft(C, 'list', 'table', 'inet', TABLE), before, 'and the old table is untouched, not deleted');
  t.throws(() => nfh.install(TABLE, 'an-ifname-too-long', POLICY, {}, TAG), RangeError, 'an interface name over IFNAMSIZ-1 never reaches the kernel');
  t.equal(nfh.read(TABLE)?.rules.at(-1)?.comment, TAG, 'the socket is still usable after the failures');
});

t.test('deleteTable: true, then false', async (t) => {
  t.equal(nfh.deleteTable(TABLE), true);
  t.equal(nfh.deleteTable(TABLE), false, 'ENOENT is false');
  t.equal(nfh.read(TABLE), undefined);
  t.equal(nft(C, 'list', 'tables').trim(), '', 'nothing left in the netns');
  t.equal(connect(R, ADDR_C, 8081), 'hi', 'everything reachable again');
});
