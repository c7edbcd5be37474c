/**
 * Turns a verified allocation into one decision per service (accepted / partial / rejected, model.md §0 and
 * §5.4), with placements split into basic and elastic VMs, availability, TREC values, cost and reasons.
 *
 * Reasons (admission-controller/reasons.ts lists every code and its data) are decided by explain.ts from the model,
 * the allocation and what the caller says about the ledger (DecisionContext). `decide()` may be called again on the
 * same verified allocation with more context (the holders, once fetched): it keeps no state between calls, and costs
 * O(placements + the size of the services not admitted whole), never O(hosts) beyond what is kept per frozen host list.
 */
import type { AdmissionModel, Allocation } from '../model/types';
import { explainComponents, type Reason } from './explain';
import { fmt } from './reasons';
import type { Verification } from './verification';

export type { Reason, ReasonCode, ReasonValue } from './reasons';
import type { HolderFigures } from './reasons';

/** A recorded admission holding capacity on a host, as the ledger reports it (ledger/types.ts `Holder`, per host). */
export type DecisionHolder = HolderFigures;

/**
 * What only the caller knows about the capacity the model was built on. Every field is optional; without a field the
 * reasons claim nothing that needs it:
 *
 * - `federationAvailable` absent or false: the summary never speaks of federating (VMs the model sends elsewhere are
 *   "not run here").
 * - `reservedByHost` absent or empty: the model's usage is taken as the fleet's own (host-info's), so a shortage is
 *   INSUFFICIENT_CAPACITY, never CAPACITY_IN_USE. Pass it whenever recorded admissions hold capacity in the window.
 *   Amounts are the admissions' bookings only (not capacity windows); negative amounts count as 0.
 * - `holdersByHost` absent: CAPACITY_IN_USE names the hosts and the amounts held but not who holds them
 *   (`holders: []`, `holdersKnown: false`). The service fetches holders only when a reason needs them and calls
 *   `decide()` again.
 */
export interface DecisionContext {
  /** Whether any peer could take federated VMs (peers configured and the request may be forwarded). Default false. */
  readonly federationAvailable?: boolean;
  /** Per host id: capacity over the window that recorded admissions hold (part of Host.usedCpus / freeMemoryMb already). */
  readonly reservedByHost?: ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }>;
  /** Per host id: the admissions holding it (from the ledger), largest first. */
  readonly holdersByHost?: ReadonlyMap<string, readonly DecisionHolder[]>;
}

export type ServiceDecisionKind = 'accepted' | 'partial' | 'rejected';

export interface PlacementDecision {
  readonly hostId: string;
  /** Model-directory label of the host (`ph<k>`), when the model has one. */
  readonly hostLabel?: string;
  readonly vms: number;
  readonly basicVms: number;
  readonly elasticVms: number;
}

export interface ComponentDecision {
  readonly id: string;
  /** y: accepted locally (runs at least its basic VMs here). */
  readonly acceptedLocally: boolean;
  readonly basicVms: number;
  readonly maxVms: number;
  readonly localVms: number;
  readonly federatedVms: number;
  readonly placements: readonly PlacementDecision[];
  /** cdf of the component (uniform-demand model) and its target. */
  readonly availability: number;
  readonly availabilityTarget: number;
  /** Why fewer than maxVms run locally; empty when the component is fully admitted. */
  readonly reasons: readonly Reason[];
}

export interface ServiceDecision {
  readonly id: string;
  readonly decision: ServiceDecisionKind;
  /**
   * `decision === 'accepted'`: every component accepted locally and nothing federated. (OPTIMIS's X_a, every component
   * accepted locally, is true also when elastic VMs are federated, which is a partial decision; it stays in the
   * verifier's report and result.csv.) Elastic VMs may still be fewer than the maximum: see the components' reasons.
   */
  readonly fullyAccepted: boolean;
  readonly federationAllowed: boolean;
  readonly localVms: number;
  readonly federatedVms: number;
  readonly maxVms: number;
  readonly availability: { readonly mean: number; readonly joint: number; readonly target: number };
  readonly acceptedVmShare: number;
  readonly trec: { readonly trust: number; readonly risk: number; readonly eco: number; readonly cost: number };
  readonly objectiveContribution: number;
  /** One-line summary of the decision. */
  readonly summary: string;
  readonly components: readonly ComponentDecision[];
}

/**
 * The decision rule of §5.4 with the project's fixes:
 * - accepted: every component accepted locally (X_a = 1) and nothing federated (fullyAccepted);
 * - partial: some component accepted locally, federation allowed, and either a component not accepted locally or
 *   VMs federated (whether a peer takes them is the service's business: DecisionContext.federationAvailable);
 * - rejected otherwise: nothing accepted locally, or federation forbidden and not every component accepted (OPTIMIS's
 *   `rp` case).
 */
export function decisionOf(model: AdmissionModel, a: number, verification: Verification): ServiceDecisionKind {
  const s = model.services[a]!;
  const ev = verification.services[a]!;
  const anyLocal = ev.components.some((c) => c.acceptedLocally);
  if (!anyLocal) return 'rejected';
  if (ev.fullyAccepted && ev.federatedVms === 0) return 'accepted';
  return s.federationAllowed ? 'partial' : 'rejected';
}

export function decide(model: AdmissionModel, allocation: Allocation, verification: Verification, context: DecisionContext = {}): ServiceDecision[] {
  const reasons = explainComponents(model, allocation, verification, context);
  return model.services.map((s, a) => {
    const ev = verification.services[a]!;
    const components = s.components.map((c, i): ComponentDecision => {
      const ce = ev.components[i]!;
      let basicLeft = ce.acceptedLocally ? c.basic : 0;
      const placements = [...allocation.services[a]![i]!.placements]
        .filter((p) => p.vms > 0)
        .sort((p, q) => p.hostIndex - q.hostIndex)
        .map((p): PlacementDecision => {
          const host = model.hosts[p.hostIndex]!;
          const basicVms = Math.min(basicLeft, p.vms);
          basicLeft -= basicVms;
          return { hostId: host.id, ...(host.label ? { hostLabel: host.label } : {}), vms: p.vms, basicVms, elasticVms: p.vms - basicVms };
        });
      return {
        id: c.id,
        acceptedLocally: ce.acceptedLocally,
        basicVms: c.basic,
        maxVms: c.maxVms,
        localVms: ce.localVms,
        federatedVms: ce.federatedVms,
        placements,
        availability: ce.availability,
        availabilityTarget: c.availability,
        reasons: reasons[a]![i]!,
      };
    });
    const decision = decisionOf(model, a, verification);
    return {
      id: s.id,
      decision,
      fullyAccepted: decision === 'accepted',
      federationAllowed: s.federationAllowed,
      localVms: ev.localVms,
      federatedVms: ev.federatedVms,
      maxVms: ev.maxVms,
      availability: { mean: ev.averageAvailability, joint: ev.jointAvailability, target: s.availability },
      acceptedVmShare: ev.acceptedVmShare,
      trec: { trust: s.trust, risk: s.risk, eco: s.eco, cost: ev.cost },
      objectiveContribution: ev.objectiveContribution,
      summary: summarise(decision, components, ev.federatedVms, context.federationAvailable === true),
      components,
    };
  });
}

function summarise(decision: ServiceDecisionKind, components: readonly ComponentDecision[], federated: number, federationAvailable: boolean): string {
  const local = components.filter((c) => c.acceptedLocally).map((c) => c.id);
  const notLocal = components.filter((c) => !c.acceptedLocally).map((c) => c.id);
  const vms = components.reduce((t, c) => t + c.localVms, 0);
  switch (decision) {
    case 'accepted':
      return `accepted: all ${components.length} component(s) admitted locally with ${vms} VM(s)`;
    case 'partial':
      return (
        `partial: ${local.join(', ')} admitted locally with ${vms} VM(s)` +
        (notLocal.length ? `; not admitted locally: ${notLocal.join(', ')}` : '') +
        (federated ? (federationAvailable ? `; ${fmt(federated)} VM(s) to federate` : `; ${fmt(federated)} VM(s) not run here`) : '')
      );
    case 'rejected': {
      // The first reason that says why, rather than that the service is all or nothing or a rule's group.
      const all = components.flatMap((c) => c.reasons);
      const first = all.find((r) => r.code !== 'ALL_OR_NOTHING' && r.code !== 'AFFINITY_RULE_GROUP') ?? all[0];
      return `rejected${first ? `: ${first.message}` : ''}`;
    }
  }
}
