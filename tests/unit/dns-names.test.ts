// Container names → DNS labels (the documented rules), explicit labels, zones, ip6.arpa names.
import t from 'tap';
import { explicitLabel, labelFromContainerName, normalizeZone, reverseName } from '../../runtime/wire/dns/names';
import { isSubdomain } from '../../runtime/wire/dns/wire';
import { parseIPv6 } from '../../runtime/core/ipv6';

t.test('container names that need sanitising', async (t) => {
  const cases: [string, string][] = [
    ['web1', 'web1'],
    ['Web_1', 'web-1'],
    ['my.app', 'my-app'],
    ['a__b--c..d', 'a-b-c-d'],
    ['_leading', 'leading'],
    ['trailing-', 'trailing'],
    ['0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde', '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcde'],
    ['449c1fa23d36e5', '449c1fa23d36e5'],
  ];
  for (const [name, label] of cases) t.equal(labelFromContainerName(name), label, `${name} → ${label}`);
});

t.test('container names that cannot be made valid are errors, not guesses', async (t) => {
  t.throws(() => labelFromContainerName('café'), /container name "café" cannot be made a DNS label: "é" is not allowed/);
  t.throws(() => labelFromContainerName('a b'), /" " is not allowed/);
  t.throws(() => labelFromContainerName('___'), /nothing left of it/);
  t.throws(() => labelFromContainerName(''), /nothing left of it/);
  t.throws(() => labelFromContainerName('x'.repeat(64)), /64 characters, at most 63/);
});

t.test('explicit labels are taken as they are or refused', async (t) => {
  t.equal(explicitLabel('API', 'annotation'), 'api');
  t.throws(() => explicitLabel('my_api', 'annotation oci-slaac-hook.dns_name'), /annotation oci-slaac-hook.dns_name: "my_api" is not a valid DNS label/);
  t.throws(() => explicitLabel('-x', 'a'), /not a valid DNS label/);
});

t.test('zones and reverse names', async (t) => {
  t.equal(normalizeZone('Lab.Example.', 'zone'), 'lab.example');
  t.throws(() => normalizeZone('bad..zone', 'zone'), /not a valid zone name/);
  t.equal(reverseName(parseIPv6('2001:db8::567:89ab')), 'b.a.9.8.7.6.5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa');
  t.ok(isSubdomain('b.a.0.1.0.0.2.ip6.arpa', '0.1.0.0.2.ip6.arpa'));
  t.notOk(isSubdomain('x.example', 'ample'));
});
