// The conflists shipped in hooks/cni/: each is a CNI 1.x network configuration list whose "slaac"
// plugin's config, as a runtime derives it (the list's name and cniVersion added), is accepted by
// the plugin's own parser and its keys by config.toml's.
import t from 'tap';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { applySettings, defaultConfig, isSettingKey } from '../../runtime/core/config';
import { parseNetConf } from '../../runtime/wire/cni/spec';

const DIR = path.join(__dirname, '..', '..', 'hooks', 'cni');

for (const file of fs.readdirSync(DIR).filter((f) => f.endsWith('.conflist'))) {
  t.test(file, async (t) => {
    const list = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8')) as { cniVersion: string; name: string; plugins: Record<string, unknown>[] };
    t.match(list.cniVersion, /^1\.[01]\.0$/);
    const ours = list.plugins.filter((p) => p.type === 'slaac');
    t.equal(ours.length, 1, 'one slaac plugin');
    t.equal(list.plugins.at(-1)?.type, 'slaac', 'ours last: chained, it goes beside the interface the others made');
    const derived = JSON.stringify({ ...ours[0], name: list.name, cniVersion: list.cniVersion });
    const conf = parseNetConf(derived, 'ADD');
    t.ok(conf.ok, JSON.stringify(conf));
    if (!conf.ok) return;
    t.equal(conf.value.configFile, '/etc/oci-slaac-hook/config.toml');
    for (const key of Object.keys(conf.value.settings)) t.ok(isSettingKey(key), `${key} is a config.toml key`);
    t.doesNotThrow(() => applySettings(defaultConfig(), conf.value.settings, file));
  });
}
