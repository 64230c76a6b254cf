// The policy annotations and [policy]: what each accepts, and one line naming the bad value.
import t from 'tap';
import { parseConfig } from '../../runtime/core/config';
import { ruleCount } from '../../runtime/wire/nftables/ruleset';
import { describePolicy, parseAllowFrom, parseExpose, parseNetworks, policyFor, policyTag, POLICY_DEFAULTS } from '../../runtime/core/policy';

const A = (o: Record<string, string>): Record<string, string> => Object.fromEntries(Object.entries(o).map(([k, v]) => [`oci-slaac-hook.${k}`, v]));

t.test('expose: ports, ranges, protocols; duplicates once', async (t) => {
  t.same(parseExpose('tcp:80, tcp:443,udp:53,tcp:8000-8099,sctp:9,TCP:80', 'x'), {
    value: [
      { proto: 'tcp', from: 80, to: 80 },
      { proto: 'tcp', from: 443, to: 443 },
      { proto: 'udp', from: 53, to: 53 },
      { proto: 'tcp', from: 8000, to: 8099 },
      { proto: 'sctp', from: 9, to: 9 },
    ],
  });
  t.same(parseExpose('', 'x'), { value: [] });
  for (const [bad, why] of [
    ['tcp:99999', /port 99999 is not in 1\.\.65535/],
    ['tcp:0', /port 0/],
    ['icmp:1', /not PROTO:PORT/],
    ['80', /not PROTO:PORT/],
    ['tcp:90-80', /runs backwards/],
    ['tcp:80,,udp:53', /empty entry/],
    ['tcp:-1', /not PROTO:PORT/],
  ] as const) {
    const r = parseExpose(bad, 'annotation oci-slaac-hook.expose');
    t.match(r, { error: why }, bad);
    if ('error' in r) t.notOk(r.error.includes('\n'), 'one line');
  }
  t.match(parseExpose(Array.from({ length: 65 }, (_, i) => `tcp:${i + 1}`).join(','), 'x'), { error: /at most 64/ });
});

t.test('networks: DNS labels', async (t) => {
  t.same(parseNetworks('blue,payments,blue', 'x'), { value: ['blue', 'payments'] });
  for (const bad of ['Blue', 'blue_1', '-blue', 'a'.repeat(64), 'blue.green', 'café']) t.match(parseNetworks(bad, 'x'), { error: /is not a network name/ }, bad);
});

t.test('allow_from: prefixes, no host bits', async (t) => {
  t.same(parseAllowFrom('2001:db8:ffff::/48,::/0', 'x'), { value: [{ prefix: '2001:db8:ffff::', length: 48 }, { prefix: '::', length: 0 }] });
  t.match(parseAllowFrom('2001:db8::1/48', 'x'), { error: /has bits set past \/48 \(did you mean 2001:db8::\/48\?\)/ });
  t.match(parseAllowFrom('2001:db8::/129', 'x'), { error: /is not an IPv6 prefix/ });
  t.match(parseAllowFrom('10.0.0.0/8', 'x'), { error: /is not an IPv6 prefix/ });
  t.match(parseAllowFrom('zz::/16', 'x'), { error: /is not an IPv6 prefix/ });
  t.match(parseAllowFrom('2001:db8::', 'x'), { error: /is not an IPv6 prefix/ });
});

t.test('policyFor: annotations over [policy]; each bad value named', async (t) => {
  const cfg = { ...POLICY_DEFAULTS, expose: [{ proto: 'tcp' as const, from: 22, to: 22 }] };
  t.same(policyFor(cfg, {}), { mode: 'open', expose: [{ proto: 'tcp', from: 22, to: 22 }], networks: [], allowFrom: [], echo: true });
  const p = policyFor(cfg, A({ policy: 'restricted', expose: 'tcp:8080', networks: 'blue', allow_from: '2001:db8:ffff::/48', echo: 'false' }));
  t.same(p, { mode: 'restricted', expose: [{ proto: 'tcp', from: 8080, to: 8080 }], networks: ['blue'], allowFrom: [{ prefix: '2001:db8:ffff::', length: 48 }], echo: false });
  t.equal(ruleCount(p) - 1, 1 + 3 + 0 + 1 + 1 + 1 + 1, 'the guard chain: ct, 3 ICMPv6, no echo, a prefix, a network, a port, the drop');
  t.equal(describePolicy(p), 'restricted; expose tcp:8080; allow 2001:db8:ffff::/48; no echo; networks blue');
  t.not(policyTag(p), policyTag({ ...p, echo: true }), 'the fingerprint follows the policy');
  t.throws(() => policyFor(cfg, A({ policy: 'locked' })), /^annotation oci-slaac-hook\.policy: must be open or restricted, got "locked"$/);
  t.throws(() => policyFor(cfg, A({ expose: 'tcp:99999' })), /^annotation oci-slaac-hook\.expose: "tcp:99999": port 99999 is not in 1\.\.65535$/);
  t.throws(() => policyFor(cfg, A({ allow_from: 'nope/8' })), /^annotation oci-slaac-hook\.allow_from: "nope\/8" is not an IPv6 prefix/);
  t.throws(() => policyFor(cfg, A({ echo: 'maybe' })), /^annotation oci-slaac-hook\.echo: must be true or false/);
  t.throws(() => policyFor({ ...cfg, networks_allowed: ['blue'] }, A({ networks: 'blue,red' })), /network "red" is not one this host lets containers join \(blue\)/);
  t.throws(() => policyFor(cfg, A({ networks: 'blue' }), []), /network "blue" is not one this host lets containers join \(none\)/, 'rootless: none unless listed');
});

t.test('[policy] and [dns] networks_zone and [rootless] networks in config.toml', async (t) => {
  const cfg = parseConfig('[policy]\npolicy = "restricted"\nexpose = ["tcp:80", "udp:53"]\nnetworks = "blue"\nallow_from = ["2001:db8::/32"]\necho = false\nnetworks_allowed = ["blue", "red"]\n[rootless]\nnetworks = ["blue"]\n', 'c.toml');
  t.same(cfg.policy, { policy: 'restricted', expose: [{ proto: 'tcp', from: 80, to: 80 }, { proto: 'udp', from: 53, to: 53 }], networks: ['blue'], allow_from: [{ prefix: '2001:db8::', length: 32 }], echo: false, networks_allowed: ['blue', 'red'] });
  t.same(cfg.rootless.networks, ['blue']);
  t.throws(() => parseConfig('[policy]\nexpose = "tcp:0"\n', 'c.toml'), /^config c\.toml \[policy\]: expose: "tcp:0": port 0 is not in 1\.\.65535$/);
  t.throws(() => parseConfig('[policy]\nopen = true\n', 'c.toml'), /unknown key "open"/);
  t.throws(() => parseConfig('policy = "open"\n', 'c.toml'), /policy must be a table/);
  t.equal(parseConfig('[dns]\nserver = "::1"\nzone = "example"\nnetworks_zone = "nets.example"\n', 'c.toml').dns?.networks_zone, 'nets.example');
});
