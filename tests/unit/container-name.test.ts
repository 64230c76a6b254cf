// The stable name from every engine (runtime/system/container-name.ts): our annotation first, then
// a Kubernetes pod (containerd CRI, CRI-O) as <pod>.<namespace> with that DNS label, nerdctl's
// annotation, Docker's config.v2.json (found beside the /etc/hostname mount's source, whatever the
// data-root) with its oci-slaac-hook.* labels, podman's containers.json, and the id.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerFacts, stableName } from '../../runtime/system/container-name';
import { parseConfigJson } from '../../runtime/wire/oci/spec';

const ID = 'f'.repeat(64);
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-names-'));
t.teardown(() => fs.rmSync(work, { recursive: true, force: true }));

/** A Docker data-root with container ID's files, as dockerd 20.10 writes them. */
function dockerRoot(config: unknown): string {
  const dir = path.join(work, `data-${Math.random().toString(36).slice(2)}`, 'containers', ID);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'hostname'), 'abc\n');
  fs.writeFileSync(path.join(dir, 'config.v2.json'), typeof config === 'string' ? config : JSON.stringify(config));
  return path.join(dir, 'hostname');
}

t.test('Docker: name and oci-slaac-hook.* labels from config.v2.json beside the hostname mount', async (t) => {
  const source = dockerRoot({ ID, Name: '/web1', Config: { Labels: { 'oci-slaac-hook.enable': 'false', 'com.example': 'x', 'oci-slaac-hook.n': 3 } } });
  const facts = dockerFacts(ID, source);
  t.same(facts, { name: 'web1', labels: { 'oci-slaac-hook.enable': 'false' } }, 'the name without its slash; only our string labels');
  t.same(stableName(ID, '/nowhere', {}, '', facts?.name), { name: 'web1', source: 'docker' });
  t.same(stableName(ID, '/nowhere', { 'oci-slaac-hook.name': 'mine' }, '', facts?.name), { name: 'mine', source: 'annotation' }, 'our annotation wins');
  // config.json as Docker writes it: the hostname mount is how the files are found.
  const oci = parseConfigJson(JSON.stringify({ ociVersion: '1.0.2', mounts: [{ destination: '/etc/hostname', type: 'bind', source, options: ['rbind'] }] }), 'config.json');
  t.equal(oci.hostnameSource, source, 'config.json names the source');
});

t.test('Docker: anything else is no Docker container', async (t) => {
  t.equal(dockerFacts(ID, undefined), undefined, 'no hostname mount');
  t.equal(dockerFacts(ID, '/etc/hostname'), undefined, 'a source not under containers/<id>/');
  t.equal(dockerFacts('other', dockerRoot({ ID, Name: '/x' })), undefined, 'another id');
  t.equal(dockerFacts(ID, dockerRoot({ ID: 'someone-else', Name: '/x' })), undefined, 'a config.v2.json of another container');
  t.equal(dockerFacts(ID, dockerRoot('not json')), undefined, 'not JSON');
  const fifoDir = path.dirname(dockerRoot({}));
  fs.rmSync(path.join(fifoDir, 'config.v2.json'));
  fs.symlinkSync('/etc/passwd', path.join(fifoDir, 'config.v2.json'));
  t.equal(dockerFacts(ID, path.join(fifoDir, 'hostname')), undefined, 'a symbolic link is not followed');
  t.same(dockerFacts(ID, dockerRoot({ ID })), { labels: {} }, 'no name: labels only');
});

t.test('Kubernetes: a pod is <pod>.<namespace>, published under that label', async (t) => {
  const cri = { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-name': 'web-7d4b9c.v2', 'io.kubernetes.cri.sandbox-namespace': 'shop' };
  t.same(stableName(ID, '/nowhere', cri), { name: 'web-7d4b9c.v2.shop', source: 'kubernetes', dnsLabel: 'web-7d4b9c-v2.shop' }, 'containerd CRI');
  const crio = { 'io.kubernetes.pod.name': 'db-0', 'io.kubernetes.pod.namespace': 'Shop' };
  t.same(stableName(ID, '/nowhere', crio), { name: 'db-0.Shop', source: 'kubernetes', dnsLabel: 'db-0.shop' }, 'CRI-O');
  t.same(stableName(ID, '/nowhere', { ...cri, 'oci-slaac-hook.name': 'x' }), { name: 'x', source: 'annotation' }, 'our annotation wins');
  t.same(stableName(ID, '/nowhere', { 'io.kubernetes.pod.name': 'only-a-name' }), { name: ID, source: 'id' }, 'a pod name without a namespace is no pod');
  const unlabelable = stableName(ID, '/nowhere', { 'io.kubernetes.pod.name': 'a b', 'io.kubernetes.pod.namespace': 'x' });
  t.equal(unlabelable.name, 'a b.x', 'a name that makes no DNS label stands (its address and MAC)');
  t.match(unlabelable.labelError, /cannot be made a DNS label/, 'the label fails only where one is published: one line');
});

t.test('nerdctl and the fallbacks', async (t) => {
  t.same(stableName(ID, '/nowhere', { 'nerdctl/name': 'api' }), { name: 'api', source: 'nerdctl' });
  t.same(stableName(ID, '/nowhere', {}), { name: ID, source: 'id' }, 'nothing: the id');
});
