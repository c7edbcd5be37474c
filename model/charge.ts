/**
 * The one charge function (extension: charging, docs/charging.md): what VMs of a component cost the client on a host,
 * given the model's charge classes. The greedy, HiGHS, the verifier and the admission's cost breakdown all call it, so
 * the bound they check and the figure the answer states cannot differ.
 */
import type { AdmissionModel, ChargeRates, Component, Host } from './types';

/** One VM of the component at these rates: perVcpu × vCPUs + perMemoryGb × memory in GB + perVm. */
export function vmCharge(rates: ChargeRates, component: Pick<Component, 'vcpus' | 'memoryMb'>): number {
  return rates.perVcpu * component.vcpus + rates.perMemoryGb * ((component.memoryMb ?? 0) / 1024) + rates.perVm;
}

/** The host's rates, or undefined when the model charges nothing. */
export function ratesOf(model: Pick<AdmissionModel, 'charging'>, host: Pick<Host, 'chargeClass'>): ChargeRates | undefined {
  const classes = model.charging?.classes;
  if (!classes || classes.length === 0) return undefined;
  return classes[host.chargeClass ?? 0];
}

/** What `vms` VMs of the component cost on the host (0 when the model charges nothing). */
export function placementCharge(model: Pick<AdmissionModel, 'charging'>, host: Pick<Host, 'chargeClass'>, component: Pick<Component, 'vcpus' | 'memoryMb'>, vms: number): number {
  if (vms === 0) return 0;
  const rates = ratesOf(model, host);
  return rates ? vms * vmCharge(rates, component) : 0;
}

/**
 * Whether a charge bound is in the model: model charging and some service with a chargeBound. Only then does a host's
 * charge class matter to a solver (hosts of different classes stop being interchangeable); without, solvers run
 * exactly as if charging did not exist.
 */
export function chargeBoundActive(model: Pick<AdmissionModel, 'charging' | 'services'>): boolean {
  return model.charging !== undefined && model.services.some((s) => s.chargeBound !== undefined);
}
