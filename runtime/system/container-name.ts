/**
 * The container's stable name, which keys its RFC 7217 address so that a restarted container
 * gets the same address. First found wins:
 * 1. the `oci-slaac-hook.name` annotation (or Docker label);
 * 2. a Kubernetes pod — one host on the link, keyed by the pod: `<pod>.<namespace>` from
 *    containerd's CRI (`io.kubernetes.cri.sandbox-name`, `…sandbox-namespace`) or CRI-O
 *    (`io.kubernetes.pod.name`, `…pod.namespace`), published as `<pod>.<namespace>.<zone>`;
 * 3. nerdctl's name (`nerdctl/name`);
 * 4. Docker's name (`Name` in config.v2.json, found beside the /etc/hostname mount's source:
 *    Docker 20.10 puts no name in config.json);
 * 5. podman's name (containers.json, below); a podman pod's infra container (named `<pod id, 12
 *    hex>-infra`) takes the pod's name instead, which podman gives it as its hostname;
 * 6. the id.
 *
 * Docker's `oci-slaac-hook.*` labels act as annotations (dockerFacts): `--label
 * oci-slaac-hook.enable=false` opts out, as `--annotation` does on Docker ≥ 24.
 *
 * podman 4.3 puts the name in neither the state nor the annotations; its bundle is
 * <storage>/overlay-containers/<id>/userdata and <storage>/overlay-containers/containers.json
 * (c/storage) lists {id, names} while the container exists. Never ask podman itself: it holds
 * the container's lock while hooks run.
 */
import * as path from 'node:path';
import { InputError } from '../core/errors';
import { readRegularFile } from '../wire/oci/files';
import { labelFromContainerName } from '../wire/dns/names';
import { ANNOTATION_PREFIX } from '../core/annotations';

/** c/storage's containers.json: some 500 bytes a container. */
const MAX_CONTAINERS_JSON_BYTES = 64 * 1024 * 1024;

export const NAME_ANNOTATION = 'oci-slaac-hook.name';

export interface StableName {
  name: string;
  source: 'annotation' | 'pod' | 'podman' | 'id' | 'kubernetes' | 'nerdctl' | 'docker' | 'cni';
  /** The DNS label the name gives (Kubernetes: `<pod>.<namespace>`), when not the name made into one. */
  dnsLabel?: string;
  /** Why the name gives no DNS label (a pod name of more than 63 characters): an error only where one is published. */
  labelError?: string;
}

/** What Docker's own files say of a container: its name and labels (config.v2.json). */
export interface DockerFacts {
  name?: string;
  labels: Record<string, string>;
}

/** config.v2.json: a few kB; bounded against anything else at that path. */
const MAX_DOCKER_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * Docker's config.v2.json of container `id`, when `hostnameSource` (config.json's /etc/hostname
 * bind source) is Docker's `<data-root>/containers/<id>/hostname`: found from the bundle alone,
 * whatever the data-root. Never the Docker API: dockerd holds the container's lock during start.
 */
export function dockerFacts(id: string, hostnameSource: string | undefined): DockerFacts | undefined {
  if (!hostnameSource || path.basename(hostnameSource) !== 'hostname' || path.basename(path.dirname(hostnameSource)) !== id) return undefined;
  const file = path.join(path.dirname(hostnameSource), 'config.v2.json');
  let v: unknown;
  try {
    v = JSON.parse(readRegularFile(file, { maxBytes: MAX_DOCKER_CONFIG_BYTES, what: file, missingOk: true, noFollow: true }) ?? 'null');
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as { ID?: unknown; Name?: unknown; Config?: { Labels?: unknown } };
  if (o.ID !== undefined && o.ID !== id) return undefined;
  const labels: Record<string, string> = {};
  const raw = o.Config?.Labels;
  if (typeof raw === 'object' && raw !== null) {
    for (const [k, val] of Object.entries(raw as Record<string, unknown>)) if (k.startsWith(ANNOTATION_PREFIX) && typeof val === 'string') labels[k] = val;
  }
  const name = typeof o.Name === 'string' ? o.Name.replace(/^\//, '') : '';
  return { ...(name ? { name } : {}), labels };
}

const CRI_SANDBOX = ['io.kubernetes.cri.sandbox-name', 'io.kubernetes.cri.sandbox-namespace'] as const;
const CRIO_POD = ['io.kubernetes.pod.name', 'io.kubernetes.pod.namespace'] as const;

/** A Kubernetes pod's stable name and DNS label from CRI annotations; an InputError when they cannot make a label. */
function kubernetesName(annotations: Record<string, string>): StableName | undefined {
  for (const [podKey, nsKey] of [CRI_SANDBOX, CRIO_POD]) {
    const pod = annotations[podKey];
    const ns = annotations[nsKey];
    if (!pod || !ns) continue;
    return podName(pod, ns, `annotations ${podKey} and ${nsKey}`);
  }
  return undefined;
}

/** A Kubernetes pod: `<pod>.<namespace>`, published as such (two labels). */
function podName(pod: string, ns: string, what: string): StableName {
  const name = `${pod}.${ns}`;
  if (name.length > 255) throw new InputError(`${what} are longer than 255 characters together`);
  try {
    return { name, source: 'kubernetes', dnsLabel: `${labelFromContainerName(pod)}.${labelFromContainerName(ns)}` };
  } catch (err) {
    // Kubernetes allows names a DNS label cannot hold (253 characters): a failure of publication, not of the name.
    return { name, source: 'kubernetes', labelError: (err as Error).message };
  }
}

/**
 * A CNI attachment's stable name, from CNI_ARGS: K8S_POD_NAME with K8S_POD_NAMESPACE is the pod
 * (`<pod>.<namespace>`, the same name the hook gives it from the CRI annotations); K8S_POD_NAME
 * alone is the runtime's name for it (podman passes the container's name: the same name, so the
 * same address, as the hook gives a podman container); neither: the container id.
 */
export function cniName(containerId: string, pod: string | undefined, namespace: string | undefined): StableName {
  if (pod && namespace) return podName(pod, namespace, 'CNI_ARGS K8S_POD_NAME and K8S_POD_NAMESPACE');
  if (pod) {
    if (pod.length > 255) throw new InputError('CNI_ARGS K8S_POD_NAME is longer than 255 characters');
    return { name: pod, source: 'cni' };
  }
  return { name: containerId, source: 'id' };
}

/** podman's name for a pod's infra container. */
const INFRA_NAME = /^[0-9a-f]{12}-infra$/;

/**
 * `hostname`: config.json's (podman sets a pod's infra container's to the pod's name). `dockerName`:
 * dockerFacts' name, when the container is Docker's (its labels already merged into `annotations`).
 */
export function stableName(id: string, bundle: string, annotations: Record<string, string>, hostname = '', dockerName?: string): StableName {
  const annotated = annotations[NAME_ANNOTATION];
  if (annotated !== undefined) {
    if (annotated.length === 0 || annotated.length > 255) throw new InputError(`annotation ${NAME_ANNOTATION} must be 1 to 255 characters`);
    return { name: annotated, source: 'annotation' };
  }
  const kubernetes = kubernetesName(annotations);
  if (kubernetes) return kubernetes;
  const nerdctl = annotations['nerdctl/name'];
  if (nerdctl && nerdctl.length <= 255) return { name: nerdctl, source: 'nerdctl' };
  if (dockerName && dockerName.length <= 255) return { name: dockerName, source: 'docker' };
  const podman = podmanName(id, bundle);
  if (podman && INFRA_NAME.test(podman) && hostname) return { name: hostname, source: 'pod' };
  return podman ? { name: podman, source: 'podman' } : { name: id, source: 'id' };
}

function podmanName(id: string, bundle: string): string | undefined {
  if (path.basename(bundle) !== 'userdata' || path.basename(path.dirname(bundle)) !== id) return undefined;
  const file = path.join(path.dirname(path.dirname(bundle)), 'containers.json');
  let entries: unknown;
  try {
    // The bundle path comes from the OCI state: whatever it names must not hang or flood us.
    entries = JSON.parse(readRegularFile(file, { maxBytes: MAX_CONTAINERS_JSON_BYTES, what: file, missingOk: true }) ?? 'null');
  } catch {
    return undefined;
  }
  if (!Array.isArray(entries)) return undefined;
  for (const e of entries as { id?: unknown; names?: unknown }[]) {
    if (e?.id === id && Array.isArray(e.names) && typeof e.names[0] === 'string' && e.names[0]) return e.names[0];
  }
  return undefined;
}
