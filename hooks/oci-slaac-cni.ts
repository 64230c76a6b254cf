/**
 * oci-slaac-cni: the CNI plugin (hooks/cni.ts), installed into a CNI plugin directory under the
 * type name its network config uses (e.g. /opt/cni/bin/slaac). The runtime sets CNI_* in the
 * environment and writes the network config on stdin; the result or the error result goes to
 * stdout, logs to stderr and syslog. Exit 0 on success, 1 with an error result otherwise.
 *
 * `--version` prints the version and the CNI versions spoken. `__complete-dad ID [--config PATH]
 * [--state-dir DIR]` is internal: an optimistic ADD without an
 * agent finishes DAD in a detached copy of this process.
 */
import { isatty } from 'node:tty';
import { parseArgs } from 'node:util';
import { oneLine } from '../runtime/core/errors';
import { Logger } from '../runtime/system/log';
import { readBounded, utf8 } from '../runtime/wire/oci/files';
import { CNI_ERRORS, CNI_VERSIONS, encodeError, MAX_NETCONF_BYTES } from '../runtime/wire/cni/spec';
import { isContainerId } from '../runtime/wire/oci/spec';
import { COMPLETE_DAD_COMMAND, completeDadInBackground } from './hook';
import { runCni } from './cni';
import { VERSION } from './version';

async function main(): Promise<number> {
  const log = new Logger('');
  try {
    const [first, id = '', ...rest] = process.argv.slice(2);
    if (first === '--version') {
      process.stdout.write(`oci-slaac-cni ${VERSION} (CNI ${CNI_VERSIONS.join(', ')})\n`);
      return 0;
    }
    if (first === COMPLETE_DAD_COMMAND) {
      if (!isContainerId(id)) throw new Error(`${COMPLETE_DAD_COMMAND}: the first argument must be an attachment id`);
      const { values } = parseArgs({ args: rest, options: { config: { type: 'string' }, 'state-dir': { type: 'string' } }, strict: true });
      await completeDadInBackground(id, values.config, log, values['state-dir']);
      return 0;
    }
    let stdin = '';
    try {
      // A terminal is no runtime: nothing is read from it (VERSION needs nothing).
      if (!isatty(0)) stdin = utf8(readBounded(0, MAX_NETCONF_BYTES, 'network configuration on stdin'), 'network configuration on stdin');
    } catch (err) {
      if (!/nothing to read/.test(oneLine(err))) {
        process.stdout.write(`${encodeError('1.1.0', { code: CNI_ERRORS.io, msg: oneLine(err) })}\n`);
        return 1;
      }
    }
    const outcome = await runCni(process.env, stdin, log);
    if (outcome.stdout) process.stdout.write(`${outcome.stdout}\n`);
    return outcome.exitCode;
  } catch (err) {
    log.error(oneLine(err));
    return 1;
  } finally {
    log.close();
  }
}

void main().then((code) => {
  process.exitCode = code;
});
