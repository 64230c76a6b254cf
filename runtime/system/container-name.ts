/**
 * The container's stable name, which keys its RFC 7217 address so that a restarted container
 * gets the same address: the `oci-slaac-hook.name` annotation, else podman's name, else the id.
 * A podman pod's infra container (named `<pod id, 12 hex>-infra`) takes the pod's name instead,
 * which podman gives it as its hostname: the pod is one host on the link, keyed by the pod.
 *
 * podman 4.3 puts the name in neither the state nor the annotations; its bundle is
 * <storage>/overlay-containers/<id>/userdata and <storage>/overlay-containers/containers.json
 * (c/storage) lists {id, names} while the container exists. Never ask podman itself: it holds
 * the container's lock while hooks run.
 */
import * as path from 'node:path';
import { InputError } from '../core/errors';
import { readRegularFile } from '../wire/oci/files';

/** c/storage's containers.json: some 500 bytes a container. */
const MAX_CONTAINERS_JSON_BYTES = 64 * 1024 * 1024;

export const NAME_ANNOTATION = 'oci-slaac-hook.name';

export interface StableName {
  name: string;
  source: 'annotation' | 'pod' | 'podman' | 'id';
}

/** podman's name for a pod's infra container. */
const INFRA_NAME = /^[0-9a-f]{12}-infra$/;

/** `hostname`: config.json's (podman sets a pod's infra container's to the pod's name). */
export function stableName(id: string, bundle: string, annotations: Record<string, string>, hostname = ''): StableName {
  const annotated = annotations[NAME_ANNOTATION];
  if (annotated !== undefined) {
    if (annotated.length === 0 || annotated.length > 255) throw new InputError(`annotation ${NAME_ANNOTATION} must be 1 to 255 characters`);
    return { name: annotated, source: 'annotation' };
  }
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
