/** Every annotation (and Docker label) of ours starts with this: `oci-slaac-hook.<key>`. */
export const ANNOTATION_PREFIX = 'oci-slaac-hook.';
