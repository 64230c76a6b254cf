// Config keys of the host alone (host_link, l3_table) and their checks: a container cannot turn
// them on by annotation, and a reserved kernel table is refused by name.
import t from 'tap';
import { applyAnnotations, DEFAULTS, validateForAttach } from '../../runtime/core/config';
import { InputError } from '../../runtime/core/errors';

const base = { ...DEFAULTS, parent: 'eth9' };

t.test('host_link and l3_table default off and 4862', async (t) => {
  t.equal(DEFAULTS.host_link, false);
  t.equal(DEFAULTS.l3_table, 4862);
});

t.test('a container may not set host_link or l3_table by annotation', async (t) => {
  for (const key of ['host_link', 'l3_table', 'state_dir']) {
    t.throws(() => applyAnnotations(base, { [`oci-slaac-hook.${key}`]: 'true' }), new InputError(`annotation oci-slaac-hook.${key}: not a key a container may set`));
  }
  const allowing = { ...base, annotation_allow: { ipvlan_mode: ['l3s'] } };
  t.equal(applyAnnotations(allowing, { 'oci-slaac-hook.ipvlan_mode': 'l3s' }).ipvlan_mode, 'l3s', 'the mode it may, where the operator allows it');
  t.throws(() => applyAnnotations(allowing, { 'oci-slaac-hook.ipvlan_mode': 'l4' }), /ipvlan_mode must be one of l2, l3, l3s, got "l4"/);
});

t.test('l3_table: the kernel\'s own tables are refused', async (t) => {
  for (const table of [253, 254, 255]) {
    t.throws(() => validateForAttach({ ...base, l3_table: table }), /^l3_table \d+ is one of the kernel's own tables/);
  }
  t.equal(validateForAttach({ ...base, l3_table: 100 }).l3_table, 100);
});
