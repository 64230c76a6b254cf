// claimAddress: the order of install / probe / withdraw and the DAD-counter walk, in both modes.
import t from 'tap';
import { claimAddress, DadFailedError, type DadResult } from '../../runtime/core/dad';
import { formatIPv6, parseIPv6, type IPv6 } from '../../runtime/core/ipv6';

const candidate = (counter: number): IPv6 => parseIPv6(`2001:db8::${counter + 1}`);
const result = (address: IPv6, verdict: DadResult['verdict']): DadResult => ({ address, verdict, elapsedMs: 1, sent: 1, evidence: verdict === 'duplicate' ? 'NA from x' : undefined });

function scripted(verdicts: DadResult['verdict'][]) {
  const log: string[] = [];
  const queue = [...verdicts];
  return {
    log,
    probe: async (a: IPv6) => {
      log.push(`probe ${formatIPv6(a)}`);
      return result(a, queue.shift() ?? 'unique');
    },
    install: async (a: IPv6, counter: number) => void log.push(`install ${formatIPv6(a)} #${counter}`),
    withdraw: async (a: IPv6) => void log.push(`withdraw ${formatIPv6(a)}`),
  };
}

t.test('strict: probe first, install only the unique one', async (t) => {
  const s = scripted(['duplicate', 'unique']);
  const r = await claimAddress({ candidate, mode: 'strict', retries: 3, ...s });
  t.equal(formatIPv6(r.address), '2001:db8::2');
  t.equal(r.dadCounter, 1);
  t.equal(r.attempts.length, 2);
  t.same(s.log, ['probe 2001:db8::1', 'probe 2001:db8::2', 'install 2001:db8::2 #1']);
});

t.test('optimistic (RFC 4429): install before probing, withdraw a duplicate', async (t) => {
  const s = scripted(['duplicate', 'unique']);
  const r = await claimAddress({ candidate, mode: 'optimistic', retries: 3, ...s });
  t.equal(r.dadCounter, 1);
  t.same(s.log, ['install 2001:db8::1 #0', 'probe 2001:db8::1', 'withdraw 2001:db8::1', 'install 2001:db8::2 #1', 'probe 2001:db8::2']);
});

t.test('gives up after IDGEN_RETRIES more attempts, naming every address tried', async (t) => {
  const s = scripted(['duplicate', 'duplicate', 'duplicate', 'duplicate', 'unique']);
  const err = await claimAddress({ candidate, mode: 'strict', retries: 3, ...s }).then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(err instanceof DadFailedError);
  t.equal((err as DadFailedError).attempts.length, 4, 'first try + 3 retries');
  t.equal(
    (err as Error).message,
    'duplicate address detection failed 4 times: 2001:db8::1 (NA from x), 2001:db8::2 (NA from x), 2001:db8::3 (NA from x), 2001:db8::4 (NA from x)',
  );
  t.notOk(s.log.some((l) => l.startsWith('install')), 'nothing installed');
});

t.test('optimistic failure leaves nothing installed', async (t) => {
  const s = scripted(['duplicate', 'duplicate']);
  await t.rejects(claimAddress({ candidate, mode: 'optimistic', retries: 1, ...s }), DadFailedError);
  const installs = s.log.filter((l) => l.startsWith('install')).length;
  const withdraws = s.log.filter((l) => l.startsWith('withdraw')).length;
  t.equal(installs, withdraws);
});
