/**
 * Turns a verified allocation into one decision per service (accepted / partial / rejected, model.md §0 and
 * §5.4), with placements split into basic and elastic VMs, availability, TREC values, cost and reasons.
 */
import type { AdmissionModel, Allocation } from '../model/types';
import { explainComponents, type Reason } from './explain';
import type { Verification } from './verification';

export type { Reason, ReasonCode } from './explain';

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
  /** X_a: every component accepted locally ("Admission Control Result"). */
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
 * The decision rule of §5.4 with the project's fixes: accepted only when every component is accepted
 * locally and nothing is federated; partial when something is accepted locally and the rest may be federated;
 * rejected otherwise (including OPTIMIS's `rp` case: local part plus federation that is forbidden).
 */
export function decisionOf(model: AdmissionModel, a: number, verification: Verification): ServiceDecisionKind {
  const s = model.services[a]!;
  const ev = verification.services[a]!;
  const anyLocal = ev.components.some((c) => c.acceptedLocally);
  if (!anyLocal) return 'rejected';
  if (ev.fullyAccepted && ev.federatedVms === 0) return 'accepted';
  return s.federationAllowed ? 'partial' : 'rejected';
}

export function decide(model: AdmissionModel, allocation: Allocation, verification: Verification): ServiceDecision[] {
  const reasons = explainComponents(model, allocation, verification);
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
      fullyAccepted: ev.fullyAccepted,
      federationAllowed: s.federationAllowed,
      localVms: ev.localVms,
      federatedVms: ev.federatedVms,
      maxVms: ev.maxVms,
      availability: { mean: ev.averageAvailability, joint: ev.jointAvailability, target: s.availability },
      acceptedVmShare: ev.acceptedVmShare,
      trec: { trust: s.trust, risk: s.risk, eco: s.eco, cost: ev.cost },
      objectiveContribution: ev.objectiveContribution,
      summary: summarise(decision, components, ev.federatedVms),
      components,
    };
  });
}

function summarise(decision: ServiceDecisionKind, components: readonly ComponentDecision[], federated: number): string {
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
        (federated ? `; ${federated} VM(s) to federate` : '')
      );
    case 'rejected': {
      const first = components.find((c) => c.reasons.length > 0)?.reasons[0];
      return `rejected${first ? `: ${first.message}` : ''}`;
    }
  }
}
