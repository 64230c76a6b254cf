// oci-slaac-runtime: the OCI runtime wrapper's entry (hooks/shim.ts).
import { runShim } from './shim';

runShim(process.argv.slice(2));
