/**
 * The manual, as data: the one source of `oci-slaac-hook help`, the usage line, the man pages
 * (scripts/man.ts writes oci-slaac-hook(8), oci-slaac-runtime(8) and oci-slaac-hook.toml(5) into
 * dist/man) and README's table of config.toml keys (tests/unit/manual.test.ts holds them equal).
 * Text is Markdown-light: `code` only.
 */

export interface CommandDoc {
  name: string;
  synopsis: string;
  does: string;
}

/** The commands of oci-slaac-hook, each its synopsis and what it does. */
export const COMMANDS: readonly CommandDoc[] = [
  { name: 'ra', synopsis: 'ra --interface IF [--netns PATH] [--timeout MS] [--name NAME [--config PATH]] [--json]', does: 'Solicit a router on IF and show its advertisement; with --name, the RFC 7217 addresses that name gets (with the secret config.toml names). Exit 1 when no RA comes in time.' },
  { name: 'dad', synopsis: 'dad ADDRESS --interface IF [--netns PATH] [--transmits N] [--retrans-ms MS] [--json]', does: 'Duplicate Address Detection for ADDRESS on IF (RFC 4862 §5.4). Exit 1 when the address is in use.' },
  { name: 'status', synopsis: 'status [--config PATH] [--json]', does: 'Every attachment in the state dir: interface, addresses and their lifetimes, router, DNS, policy.' },
  { name: 'check', synopsis: 'check ID [--config PATH] [--json]', does: "Compare the live kernel and DNS with attachment ID's ledger (the CNI CHECK verb). Exit 0 ok, 1 differences, 2 unknown ID." },
  { name: 'doctor', synopsis: 'doctor [--config PATH] [--json]', does: 'Is this host ready? One line per check (kernel link types, the parent, a router with a prefix for SLAAC, the secret, the state dir, the agent, each runtime and our registration with it, the DNS server and key, a free address), ok, warn or fail with its fix. Changes nothing. Exit 1 when a check fails.' },
  { name: 'docker-install', synopsis: 'docker-install [--daemon-json PATH] [--name NAME] [--runtime-path PATH] [--default] [--json]', does: "Register oci-slaac-runtime in Docker's daemon.json, other entries kept." },
  {
    name: 'install',
    synopsis: 'install [--parent IF | --scan IF[,IF...]] [--docker [PATH]] [--containerd [PATH]] [--cni DIR [--cni-type NAME]] [--prefix DIR] [--hooks-dir DIR] [--config-dir DIR] [--systemd-dir DIR] [--state-lib DIR] [--ra-timeout MS] [--json]',
    does: "Set this host up for the installation this command runs from, in one step. The parent: --parent IF (it must exist; a warning when no router there advertises an autonomous /64), else the one config.toml names, else found: a Router Solicitation on each NIC that may be one (up, a link-layer address, not loopback, not a port or a macvlan/ipvlan; --scan limits the probe to the NICs listed, --scan '' probes none), and the one NIC that hears an RA with an autonomous /64 prefix (A flag, length 64) is it — several: refused, naming them, asking for --parent; none: config.toml names no parent and the hook lets every container start without an address of ours. Writes config.toml in --config-dir (default /etc/oci-slaac-hook; in an existing one only `parent` is set, and only when asked or unset), podman's hooks.d files in --hooks-dir (default /usr/share/containers/oci/hooks.d) running this node and bundle, the agent's unit in --systemd-dir (default /etc/systemd/system; enabled and started when systemd runs), the runtime wrapper --prefix/bin/oci-slaac-runtime (default /usr/local); with --docker, runtime `slaac` in daemon.json (default /etc/docker/daemon.json); with --containerd, a runtime table `slaac` in containerd's config.toml (default /etc/containerd/config.toml), one marked block; with --cni, the CNI plugin DIR/NAME (default type slaac). Other entries of those files are kept; every file is written atomically and only when it changes: a second run changes nothing. Decides everything before writing anything. Records what it did in --state-lib/install.json (default /var/lib/oci-slaac-hook).",
  },
  { name: 'uninstall', synopsis: 'uninstall [--state-lib DIR] [--purge] [--json]', does: "Undo what install recorded: remove our files (each only if it still holds what install wrote: a file changed since is kept and named), our daemon.json runtime and containerd block (other entries kept), the directories install made when empty; stop and disable the agent where systemd runs. config.toml and the host secret stay unless --purge." },
  { name: 'agent', synopsis: 'agent [--config PATH]', does: 'The daemon: RA listeners, lifetimes and renumbering, GC, the rootless broker; root hooks with the same config file hand it their whole stage (/run/oci-slaac-hook/delegate/, the hook a thin client); SIGHUP reloads.' },
  { name: 'createRuntime', synopsis: 'createRuntime|prestart|poststop [--config PATH]', does: 'The OCI hook stages, the OCI state on stdin: attach at createRuntime (or prestart), withdraw at poststop.' },
  { name: 'help', synopsis: 'help [COMMAND]', does: "This text, or one command's." },
  { name: '--version', synopsis: '--version', does: 'The version.' },
];

export const EXIT_CODES = '0 success; 1 a negative answer (a duplicate address, no router advertisement in time, differences found by check, a failed doctor check); 2 bad usage or input (an unknown container id); 3 a system failure. A hook stage exits 0 or 1 (the runtime then refuses the container). Every error is one line on stderr.';

export const HOOK_DESCRIPTION = [
  "Every container gets its own globally routable IPv6 address from the router's advertisement: at createRuntime the hook makes a macvlan or ipvlan link of the host's NIC inside the container's network namespace, hears the router (RS/RA), forms an RFC 7217 stable address, proves it unique (DAD), configures address, routes and MTU, and publishes AAAA and PTR records (RFC 2136 + TSIG) — all before the container's process starts. At poststop it withdraws everything it made.",
  'Install the hook with `oci-slaac-hook install` (podman hooks.d files, config.toml with the parent found, the agent\'s unit; Docker, containerd and CNI when asked), for runc and crun in config.json, and for Docker and containerd through oci-slaac-runtime(8). The agent (`oci-slaac-hook agent`, a systemd unit) keeps addresses alive: lifetimes, renumbering, routers, garbage collection.',
];

export const RUNTIME_SYNOPSIS = 'oci-slaac-runtime [--slaac-config PATH] [RUNTIME OPTIONS] COMMAND [ARGS]';
export const RUNTIME_DESCRIPTION = [
  "An OCI runtime that stands in for runc, for engines that run no OCI hooks of their own (Docker, containerd, Kubernetes through containerd). It takes runc's argv; on `create` and `run` it adds oci-slaac-hook's createRuntime and poststop hooks to the bundle's config.json (idempotent, other hooks kept), then execs the real runtime. Every other command is passed through unchanged.",
  'The real runtime is runc, or `[shim] runtime` in config.toml. The config.toml is the one `--slaac-config PATH` names (among the global flags), else `OCI_SLAAC_HOOK_CONFIG`, else /etc/oci-slaac-hook/config.toml. Register it with Docker by `oci-slaac-hook docker-install`, then `docker run --runtime slaac`.',
];

export interface KeyDoc {
  key: string;
  default: string;
  meaning: string;
}

/** config.toml's keys: README's table (tests/unit/manual.test.ts) and oci-slaac-hook.toml(5). */
export const CONFIG_KEYS: readonly KeyDoc[] = [
  { key: '`parent`', default: '(required)', meaning: 'the physical NIC the containers\' interfaces hang off; by annotation only within `[annotation_allow]`' },
  { key: '`mode`', default: '`macvlan`', meaning: '`macvlan` or `ipvlan`; by annotation only within `[annotation_allow]`' },
  { key: '`macvlan_mode`', default: '`bridge`', meaning: '`bridge`, `private`, `vepa`, `passthru`; by annotation only within `[annotation_allow]`' },
  { key: '`ipvlan_mode`', default: '`l2`', meaning: '`l2`, `l3`, `l3s`; by annotation only within `[annotation_allow]`' },
  { key: '`dad`', default: '`strict`', meaning: '`strict` (usable only once proven unique) or `optimistic` (RFC 4429)' },
  { key: '`dad_transmits`', default: '`1`', meaning: 'DupAddrDetectTransmits, 1..10 (each costs a RetransTimer, 1 s by default)' },
  { key: '`ra_timeout_ms`', default: '`5000`', meaning: 'how long to solicit before failing the container, 100..30000' },
  { key: '`state_dir`', default: '`/run/oci-slaac-hook`', meaning: 'one JSON file per attached container' },
  { key: '`enable`', default: '`true`', meaning: 'attach containers that do not say otherwise' },
  { key: '`network_id`', default: '`""`', meaning: 'RFC 7217 Network_ID (at most 255 characters)' },
  { key: '`iid`', default: '`""`', meaning: 'a static interface identifier (`"::1234"`) instead of RFC 7217; by annotation only within `[annotation_allow]`' },
  { key: '`host_link`', default: '`false`', meaning: 'let the host reach its own containers (see below); host only' },
  { key: '`l3_table`', default: '`4862`', meaning: 'ipvlan l3/l3s: the host\'s routing table (and rule priority) for the containers\' traffic, 1..2147483647 but not 253..255; host only' },
  { key: '`max_prefixes`', default: '`16`', meaning: 'at most this many RA prefixes used per container (global addresses; on-link routes of the l3 table), 1..256; host only' },
  { key: '`max_routes`', default: '`16`', meaning: 'at most this many Route Information routes per container, 1..256; host only' },
  { key: '`max_dns_servers`', default: '`16`', meaning: 'at most this many RDNSS servers kept per container, 1..256; host only' },
  { key: '`resolv_conf`', default: '`keep`', meaning: '`keep` (the runtime\'s /etc/resolv.conf) or `ra` (the RA\'s RDNSS/DNSSL written into it, see above)' },
  { key: '`ra_cache_max_age_ms`', default: '`600000`', meaning: 'the agent\'s RA cache: a hook takes cached RAs at most this old (0: never), 0..3600000; host only' },
  { key: '`gc_interval_ms`', default: '`2000`', meaning: 'the agent\'s garbage collection: every this many ms, the records whose container is gone are undone, 100..600000; host only' },
  { key: '`secret_file`', default: '`""`', meaning: 'an absolute path to an RFC 7217 secret shared by hosts of one link (32 bytes, owned by root, mode 0600, installed by the operator: never created), so a name gets the same addresses and MAC on any of them (see "Addresses that follow a name across hosts"); empty: the host\'s own `/var/lib/oci-slaac-hook/secret`, made at first use; host only' },
  { key: '`[shim]` `runtime`', default: '`runc`', meaning: 'the real runtime `oci-slaac-runtime` execs (see "Docker, containerd, Kubernetes, CRI-O"): a program found in PATH (`runc`, `crun`) or an absolute path; host only' },
  { key: '`[rootless]` `enable`', default: '`false`', meaning: 'the agent\'s broker for rootless podman (see "Rootless podman"); host only' },
  { key: '`[rootless]` `quota`', default: '`{}`', meaning: 'user or `"@group"` → most containers attached at once (0..4096); unlisted users are refused' },
  { key: '`[rootless]` `parents`, `modes`', default: '`[]`', meaning: 'NICs and link kinds (`macvlan`, `ipvlan`) rootless containers may use; empty: `parent` / `mode`' },
  { key: '`[policy]` `policy`, `expose`, `networks`, `allow_from`, `echo`, `networks_allowed`', default: '`open`, none, none, none, `true`, `[]`', meaning: 'the per-container policy\'s defaults (see "Policy")' },
  { key: '`[rootless]` `networks`', default: '`[]`', meaning: 'the logical networks rootless containers may join (see "Policy")' },
  { key: '`[dns]` `server`', default: '(none: no publication)', meaning: 'the authoritative server for RFC 2136 updates: `"[2001:db8:1::53]:53"`, `"2001:db8:1::53"`, `"192.0.2.53:53"` (see "DNS publication")' },
  { key: '`[dns]` `zone`', default: '(required with `server`)', meaning: 'the forward zone: AAAA records at `<label>.<zone>`' },
  { key: '`[dns]` `key_file`', default: '`""`', meaning: 'a BIND-style TSIG key file (`key "NAME" { algorithm hmac-sha256; secret "…"; };`); empty: unsigned updates' },
  { key: '`[dns]` `ttl`', default: '`300`', meaning: 'the records\' TTL, 1..604800' },
  { key: '`[dns]` `timeout_ms`', default: '`2000`', meaning: 'per attempt (UDP, TCP on truncation, bounded retries), 100..30000' },
  { key: '`[dns]` `required`', default: '`false`', meaning: '`true`: a failed update fails the container (everything undone); `false`: it starts and the record stays pending for the agent' },
  { key: '`[dns]` `networks_zone`', default: '`networks.<zone>`', meaning: 'where networks\' members are published (see "Policy")' },
  { key: '`[dns]` `reverse_zones`', default: '`[]`', meaning: 'the ip6.arpa zones PTRs go to (each address\'s to the most specific covering it; none: no PTR), at most 64, whole nibbles; `reverse_zone = "…"` is the one-zone shorthand (not both); see "DNS publication"; host only' },
];

/** A markdown table row of a key. */
export const keyRow = (k: KeyDoc): string => `| ${k.key} | ${k.default} | ${k.meaning} |`;
