/** A small charging catalogue (docs/charging.md): 0.04 EUR per vCPU-hour, 0.005 per memory GB-hour, for everyone. */
export const SIMPLE_CATALOGUE = `currency: EUR
resources:
  vcpu-hours: { measure: vcpus, policy: continuous }
  memory-gb-hours: { measure: memoryGb, policy: continuous }
priceLists:
  base:
    prices: { vcpu-hours: 0.04, memory-gb-hours: 0.005 }
agreements:
  standard: { priceList: base }
default: standard
`;

/**
 * 1 EUR per vCPU-hour (memory free), `credits` a month for everyone under agreement `metered`: amounts in the tests
 * are vCPU-hours, easy to compute by hand.
 */
export function flatCatalogue(credits: number): string {
  return `currency: EUR
resources:
  vcpu-hours: { measure: vcpus, policy: continuous }
  memory-gb-hours: { measure: memoryGb, policy: continuous }
priceLists:
  flat: { prices: { vcpu-hours: 1, memory-gb-hours: 0 } }
creditPlans:
  monthly: { credits: ${credits}, period: month }
agreements:
  metered: { priceList: flat, creditPlan: monthly }
default: metered
`;
}
