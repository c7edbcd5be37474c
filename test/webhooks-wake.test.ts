/**
 * WebhookDeliverer's wake-ups: a poke wakes every sleeping loop once, and the wake-ups do not accumulate over the life
 * of the process (they were a chain of closures that grew by one per sleep and was called whole on every poke).
 */
import type { Ledger } from '../ledger/types';
import { WebhookDeliverer } from '../service/webhooks';

test('after 3,000 pokes each poke still costs one claim per loop, and at most one wake-up per loop is kept', async () => {
  let claims = 0;
  const ledger = { claimDelivery: async () => (claims++, undefined) } as unknown as Ledger;
  const d = new WebhookDeliverer(ledger, { clock: () => 0, pollMs: 60_000, concurrency: 4, allowsPrivate: () => false });
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  };
  d.start();
  await settle();
  expect(claims).toBe(4);
  for (let i = 0; i < 3000; i++) {
    d.poke();
    await settle();
  }
  expect(claims).toBe(4 + 3000 * 4);
  const before = claims;
  const t0 = performance.now();
  d.poke();
  const pokeMs = performance.now() - t0;
  await settle();
  expect(claims - before).toBe(4);
  expect((d as unknown as { sleepers: Set<unknown> }).sleepers.size).toBeLessThanOrEqual(4);
  expect(pokeMs).toBeLessThan(5);
  await d.stop();
});
