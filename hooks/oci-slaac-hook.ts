/**
 * oci-slaac-hook: the one executable — the OCI hook stages (createRuntime, prestart, poststop:
 * the OCI state on stdin) and the operator commands (ra, dad, status, check, doctor, docker-install).
 *
 * Hook stages exit 0 on success and 1 on any failure (the runtime then refuses the container),
 * with one line naming the cause on stderr and in syslog.
 * Commands: 0 success; 1 a negative answer (duplicate address, no router advertisement in
 * time, a container whose kernel or DNS state differs from its ledger); 2 bad usage or input
 * (an unknown container id); 3 a system failure. Every error is one line on stderr.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { InputError, TimeoutError, oneLine } from '../runtime/core/errors';
import { checkCommand, dadCommand, dockerInstallCommand, raCommand, statusCommand, type CommandResult } from './commands';
import { isStageCommand, runStageCommand } from './stage-main';
import { Logger, escapeControls } from '../runtime/system/log';
import { HOOK_STAGES } from '../runtime/wire/oci/spec';
import { runAgent } from '../runtime/agent/agent';
import { VERSION } from './version';
import { doctor, doctorResult } from './doctor';
import { COMMANDS } from './manual';
import { DEFAULTS, installCommand, uninstallCommand } from './install';

const USAGE = `usage:\n${COMMANDS.map((c) => `  oci-slaac-hook ${c.synopsis}`).join('\n')}`;

/** `help COMMAND`: its synopsis and what it does (the hook stages by any of their names). */
function helpFor(name: string): string {
  const c = COMMANDS.find((x) => x.name === name || (x.name === 'createRuntime' && (HOOK_STAGES as readonly string[]).includes(name)));
  if (!c) throw new UsageError(`help: unknown command ${JSON.stringify(name)}`);
  return `usage: oci-slaac-hook ${c.synopsis}\n\n${c.does}`;
}

class UsageError extends Error {}

function parse<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new UsageError(oneLine(err));
  }
}

async function run(argv: string[]): Promise<CommandResult> {
  const [command, ...rest] = argv;
  const common = {
    interface: { type: 'string', short: 'i' },
    netns: { type: 'string' },
    json: { type: 'boolean' },
  } as const;
  switch (command) {
    case 'ra': {
      const { values } = parse({ args: rest, options: { ...common, timeout: { type: 'string' }, name: { type: 'string' }, config: { type: 'string' } }, strict: true });
      if (!values.interface) throw new UsageError('ra: --interface is required');
      return withJson(values.json, await raCommand({ interface: values.interface, netns: values.netns, timeout: values.timeout, name: values.name, config: values.config }));
    }
    case 'dad': {
      const { values, positionals } = parse({
        args: rest,
        options: { ...common, transmits: { type: 'string' }, 'retrans-ms': { type: 'string' } },
        strict: true,
        allowPositionals: true,
      });
      if (positionals.length !== 1 || !positionals[0]) throw new UsageError('dad: exactly one ADDRESS is required');
      if (!values.interface) throw new UsageError('dad: --interface is required');
      return withJson(
        values.json,
        await dadCommand({ address: positionals[0], interface: values.interface, netns: values.netns, transmits: values.transmits, retrans: values['retrans-ms'] }),
      );
    }
    case 'status': {
      const { values } = parse({ args: rest, options: { config: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
      return withJson(values.json, statusCommand({ config: values.config }));
    }
    case 'check': {
      const { values, positionals } = parse({ args: rest, options: { config: { type: 'string' }, json: { type: 'boolean' } }, strict: true, allowPositionals: true });
      if (positionals.length !== 1 || !positionals[0]) throw new UsageError('check: exactly one container ID is required');
      return withJson(values.json, await checkCommand({ id: positionals[0], config: values.config }));
    }
    case 'doctor': {
      const { values } = parse({ args: rest, options: { config: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
      return withJson(values.json, doctorResult(await doctor(values.config)));
    }
    case 'docker-install': {
      const { values } = parse({
        args: rest,
        options: { 'daemon-json': { type: 'string' }, name: { type: 'string' }, 'runtime-path': { type: 'string' }, default: { type: 'boolean' }, json: { type: 'boolean' } },
        strict: true,
      });
      return withJson(values.json, dockerInstallCommand({ daemonJson: values['daemon-json'], name: values.name, runtimePath: values['runtime-path'], makeDefault: values.default }));
    }
    case 'install': {
      const { values } = parse({
        args: optionalValues(rest, { '--docker': DEFAULTS.daemonJson, '--containerd': DEFAULTS.containerdConfig }),
        options: {
          parent: { type: 'string' },
          scan: { type: 'string' },
          docker: { type: 'string' },
          containerd: { type: 'string' },
          cni: { type: 'string' },
          'cni-type': { type: 'string' },
          prefix: { type: 'string' },
          'hooks-dir': { type: 'string' },
          'config-dir': { type: 'string' },
          'systemd-dir': { type: 'string' },
          'state-lib': { type: 'string' },
          'ra-timeout': { type: 'string' },
          json: { type: 'boolean' },
        },
        strict: true,
      });
      return withJson(
        values.json,
        await installCommand({
          parent: values.parent,
          scan: values.scan,
          docker: values.docker,
          containerd: values.containerd,
          cni: values.cni,
          cniType: values['cni-type'],
          prefix: values.prefix,
          hooksDir: values['hooks-dir'],
          configDir: values['config-dir'],
          systemdDir: values['systemd-dir'],
          stateLib: values['state-lib'],
          raTimeout: values['ra-timeout'],
        }),
      );
    }
    case 'uninstall': {
      const { values } = parse({ args: rest, options: { 'state-lib': { type: 'string' }, purge: { type: 'boolean' }, json: { type: 'boolean' } }, strict: true });
      return withJson(values.json, uninstallCommand({ stateLib: values['state-lib'], purge: values.purge }));
    }
    case 'help': {
      const [topic, ...more] = rest;
      if (more.length > 0) throw new UsageError('help: at most one COMMAND');
      return { exitCode: 0, text: topic === undefined ? USAGE : helpFor(topic), json: null };
    }
    case '--version':
    case '-V':
      return { exitCode: 0, text: `oci-slaac-hook ${VERSION}`, json: { version: VERSION } };
    case undefined:
    case '-h':
    case '--help':
      return { exitCode: command ? 0 : 2, text: USAGE, json: null };
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** `--docker [PATH]`: an option whose value may be left out (then its default), as `--docker=PATH` or `--docker PATH`. */
function optionalValues(args: readonly string[], defaults: Record<string, string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    const fallback = defaults[a];
    const next = args[i + 1];
    if (fallback !== undefined && (next === undefined || next.startsWith('-'))) out.push(`${a}=${fallback}`);
    else out.push(a);
  }
  return out;
}

function withJson(json: boolean | undefined, r: CommandResult): CommandResult {
  return json ? { ...r, text: JSON.stringify(r.json, null, 2) } : r;
}

const [first, ...others] = process.argv.slice(2);
if (first !== undefined && isStageCommand(first)) {
  // The hook stages and __complete-dad (hooks/stage-main.ts; hooks/entry.ts runs them without this file).
  void runStageCommand(first, others);
} else if (first === 'agent') {
  // The daemon, in the foreground: every event one line on stderr and in syslog; exits 0 on
  // SIGTERM/SIGINT, 1 (with one line) when it cannot start.
  const log = new Logger('');
  (async () => {
    const { values } = parse({ args: others, options: { config: { type: 'string' } }, strict: true });
    return runAgent(values.config, log);
  })().then(
    (code) => {
      log.close();
      process.exit(code);
    },
    (err: unknown) => {
      log.error(`agent: ${oneLine(err)}`);
      log.close();
      process.exit(err instanceof UsageError ? 2 : 1);
    },
  );
} else run(process.argv.slice(2)).then(
  (r) => {
    (r.exitCode === 2 ? process.stderr : process.stdout).write(`${r.text}\n`);
    process.exitCode = r.exitCode;
  },
  (err: unknown) => {
    process.stderr.write(`oci-slaac-hook: ${escapeControls(oneLine(err))}\n${err instanceof UsageError ? `${USAGE}\n` : ''}`);
    process.exitCode = err instanceof UsageError || err instanceof InputError ? 2 : err instanceof TimeoutError ? 1 : 3;
  },
);
