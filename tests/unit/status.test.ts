// `status` (hooks/commands.ts): each address's state and remaining lifetimes — from the deadlines
// refresh keeps when a record has them, else from the RA's receipt — and the last RA's age.
import t from 'tap';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { addressLifetimes, addressState, statusCommand } from '../../hooks/commands';
import type { AddressRecord, ContainerRecord } from '../../runtime/core/record';
import { bootNow } from '../../runtime/system/clock';
import { StateStore } from '../../runtime/system/state-store';
import { sampleRecord } from './helpers';

const addr = (over: Partial<AddressRecord> & Record<string, unknown> = {}): AddressRecord =>
  ({ address: '2001:db8:a0::1', prefix: '2001:db8:a0::/64', prefixLength: 64, dadCounter: 0, validLifetime: 120, preferredLifetime: 60, dad: 'verified', ...over }) as AddressRecord;

t.test('lifetimes from raAt, or from deadlines', async (t) => {
  const raAt = 1_000_000;
  t.same(addressLifetimes(addr(), raAt, raAt + 30_000), { valid: 90, preferred: 30 }, 'from the RA: 30 s later');
  t.equal(addressState(addressLifetimes(addr(), raAt, raAt + 30_000)), 'preferred');
  t.equal(addressState(addressLifetimes(addr(), raAt, raAt + 61_000)), 'deprecated', 'preferred run out');
  t.equal(addressState(addressLifetimes(addr(), raAt, raAt + 121_000)), 'expired', 'valid run out');
  t.same(addressLifetimes(addr({ validLifetime: 'infinite', preferredLifetime: 'infinite' }), raAt, raAt + 5000), { valid: 'infinite', preferred: 'infinite' });
  // Refresh's deadlines win over the attach's lifetimes (a later RA extended them).
  const refreshed = addr({ validUntil: raAt + 500_000, preferredUntil: raAt + 400_000 });
  t.same(addressLifetimes(refreshed, raAt, raAt + 100_000), { valid: 400, preferred: 300 }, 'from the deadlines');
  t.equal(addressState(addressLifetimes(addr({ validUntil: raAt + 500_000, preferredUntil: raAt }), raAt, raAt + 100_000)), 'deprecated', 'a prefix with preferred 0: deprecated');
  t.same(addressLifetimes(addr({ validUntil: null, preferredUntil: null }), raAt, raAt + 1e9), { valid: 'infinite', preferred: 'infinite' }, 'null: infinite');
  t.same(addressLifetimes(addr({ validUntil: raAt + 10_000, preferredUntil: null }), raAt, raAt), { valid: 10, preferred: 10 }, 'preferred never beyond valid');
});

t.test('the table: state, lifetimes and the last RA per container', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'osh-status-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const store = new StateStore(path.join(dir, 'state'));
  fs.writeFileSync(path.join(dir, 'c.toml'), `state_dir = ${JSON.stringify(store.dir)}\n`);
  const now = bootNow();
  store.write(sampleRecord('old', { raAt: now - 100_000, addresses: [addr()] }));
  store.write(
    sampleRecord('kept', {
      raAt: now - 100_000,
      routers: [{ address: 'fe80::1', mac: null, lifetime: 1800, preference: 'medium', lastRaAt: now - 4000, until: now + 1_796_000 }],
      addresses: [addr({ validUntil: now + 116_000, preferredUntil: now + 56_000 }), addr({ address: '2001:db8:b0::1', prefix: '2001:db8:b0::/64', validUntil: now + 50_000, preferredUntil: now - 1, dad: 'optimistic' })],
    }),
  );
  const out = statusCommand({ config: path.join(dir, 'c.toml') });
  const lines = out.text.split('\n');
  t.match(lines[0], /^ID\s+NAME\s+IF\s+LINK\s+ADDRESS\s+STATE\s+VALID\/PREFERRED\s+ROUTER\s+LAST-RA\s+DNS\s+POLICY\s+SINCE$/);
  const kept = lines.find((l) => l.startsWith('kept')) ?? '';
  t.match(kept, /preferred,deprecated \(dad\)\s+11[56]s\/5[56]s,(49|50)s\/0s\s+fe80::1\s+4s ago/, `refreshed: ${kept}`);
  const old = lines.find((l) => l.startsWith('old')) ?? '';
  t.match(old, /deprecated\s+(19|20)s\/0s\s+fe80::1\s+100s ago/, `not refreshed, 100 s after an RA of valid 120 s, preferred 60 s: ${old}`);
  t.equal((out.json as ContainerRecord[]).length, 2, '--json: the whole records');
});
