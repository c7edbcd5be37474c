/**
 * Merging: one answer for the client from the local decision and an accepting peer's answer (placements, decision,
 * cost, the merged manifest with opt-ip:ExternalDeployment), or the local answer with the federation failure explained.
 */
import type { ServiceAnswer } from '../service/admission-service';
import { OPT_IP_NS, OPT_NS } from '../formats/optimis-manifest/namespaces';
import { writeAllocationOffer } from '../formats/optimis-manifest/offer';
import type { ParsedManifest } from '../formats/optimis-manifest/parse';
import { attribute, childElements, firstChild, parseXml, type XmlElement } from '../xml/safe-xml';
import type { FederationCost, FederationReport } from './types';
import { applyEdits, removeElement, replaceAttribute, type Edit } from '../xml/xml-edit';

/*
 * The schema clash (interfaces.md §1.7, D8) and how the merged manifest stays XSD-valid (docs/federation.md, "Schema"):
 * optimis.xsd's key `.//opt:VirtualMachineComponent/@opt:componentId` and keyref `.//opt:Scope/opt:ComponentId` reach
 * into a manifest embedded in opt-ip:ExternalDeployment, and libxml2 rejects the document as soon as the embedded
 * manifest has any opt:Scope ("more than one match found for key-sequence") or shares a component id with the outer
 * one. So:
 * - the OUTER manifest is the client's whole input manifest (every component, every rule and TREC section) with the
 *   local AllocationPatterns, Cost, Risk, one ExternalDeployment per accepting peer, and the merged Decision;
 * - the EMBEDDED manifest is a reduced copy of the peer's answer: every scoped section (affinity rules, TREC sections,
 *   elasticity rules, data storage…) removed, and every component id renamed `<id>@<peerId>` (made unique if needed),
 *   in opt:componentId, opt-ip:componentId (the peer's AllocationPatterns) and opt-sp:componentId alike;
 * - the peer's manifest verbatim, the id mapping and the peer's admission id are in the JSON answer's federation block
 *   (`peerManifest`, `embeddedIds`, `peerAdmissionId`): the full contract with the peer is never lost, it just cannot
 *   live inside the outer document without breaking the schema.
 */

const OPT_SP_NS = 'http://schemas.optimis.eu/optimis/service';
const COMPONENT_ID_NAMESPACES = new Set([OPT_NS, OPT_IP_NS, OPT_SP_NS]);

/**
 * The peer's manifest reduced for embedding (see the file header): no element with an opt:Scope, component ids renamed
 * away from `taken` (which is extended with the new ids). Returns the standalone document and the id mapping.
 */
export function embeddablePeerManifest(peerManifest: string, peerId: string, taken: Set<string>): { xml: string; idMap: Record<string, string> } {
  const doc = parseXml(peerManifest);
  const edits: Edit[] = [];
  const idMap: Record<string, string> = {};
  // Component ids anywhere in the peer's document (its own and those of manifests it embeds in turn).
  const rename = (id: string): string => {
    if (Object.prototype.hasOwnProperty.call(idMap, id)) return idMap[id]!;
    let candidate = `${id}@${peerId}`;
    for (let k = 2; taken.has(candidate); k++) candidate = `${id}@${peerId}~${k}`;
    taken.add(candidate);
    idMap[id] = candidate;
    return candidate;
  };
  const stack: XmlElement[] = [doc.root];
  while (stack.length > 0) {
    const el = stack.pop()!;
    if (firstChild(el, OPT_NS, 'Scope') || (el.ns === OPT_NS && el.local === 'Scope')) {
      edits.push(removeElement(doc, el));
      continue;
    }
    for (const a of el.attributes) {
      if (a.local === 'componentId' && COMPONENT_ID_NAMESPACES.has(a.ns)) edits.push(replaceAttribute(doc, el, a, rename(a.value.trim())));
    }
    stack.push(...childElements(el));
  }
  // Every edit lies inside the root element, so the root still starts where it did; the prolog (XML declaration,
  // comments) goes, since the copy is embedded as an element.
  return { xml: applyEdits(doc.source, edits).slice(doc.root.start).trimEnd(), idMap };
}

/** Component ids declared by a manifest (outer document), for the renaming above. */
export function declaredComponentIds(xml: string): Set<string> {
  const root = parseXml(xml).root;
  const ids = new Set<string>();
  const stack: XmlElement[] = [root];
  while (stack.length > 0) {
    const el = stack.pop()!;
    const id = el.ns === OPT_NS && el.local === 'VirtualMachineComponent' ? attribute(el, OPT_NS, 'componentId')?.trim() : undefined;
    if (id) ids.add(id);
    stack.push(...childElements(el));
  }
  return ids;
}

export interface MergeInput {
  /** The local answer for the service (decision, placements, the manifest with the local offer). */
  readonly local: ServiceAnswer;
  /** The client's input manifest for the service. */
  readonly inputXml: string;
  readonly parsed: ParsedManifest;
  /** The peer's answer manifest reduced for embedding. */
  readonly embeddedXml: string;
  readonly peerId: string;
  /** VMs the peer places per sent component. */
  readonly placedVms: ReadonlyMap<string, number>;
  readonly cost: FederationCost;
  readonly report: FederationReport;
}

/** The accepted, merged answer: local placements + the peer's part, one manifest, one decision, one cost. */
export function mergeAccepted(input: MergeInput): ServiceAnswer {
  const { local, report } = input;
  // Components not sent had φ = 0 (any φ > 0 makes a component part of the split).
  const components = local.components.map((c) => ({ ...c, federatedVms: input.placedVms.get(c.id) ?? 0 }));
  const federatedVms = components.reduce((t, c) => t + c.federatedVms, 0);
  const manifest = writeAllocationOffer(input.inputXml, {
    decision: 'accepted',
    components: components.map((c) => ({
      componentId: c.id,
      placements: c.placements.map((p) => ({ hostId: p.hostId, basicVms: p.basicVms, elasticVms: p.elasticVms })),
      federatedVms: c.federatedVms,
    })),
    ...(input.parsed.pricePlan ? { costXml: input.parsed.pricePlan.xml } : {}),
    risk: local.trec.risk,
    externalDeployments: [{ providerId: input.peerId, manifestXml: input.embeddedXml }],
  });
  const localIds = components.filter((c) => c.localVms > 0).map((c) => c.id);
  const localVms = components.reduce((t, c) => t + c.localVms, 0);
  const sentText = report.sent.map((s) => `${s.componentId} (${input.placedVms.get(s.componentId) ?? 0} VM(s))`).join(', ');
  const summary =
    localIds.length > 0
      ? `accepted with federation: ${localIds.join(', ')} admitted locally with ${localVms} VM(s); ${sentText} federated to ${input.peerId}`
      : `accepted with federation: the whole service federated to ${input.peerId}: ${sentText}`;
  return {
    ...local,
    decision: 'accepted',
    federatedVms,
    components,
    trec: { ...local.trec, cost: input.cost.total },
    summary,
    manifest,
    federation: report,
  };
}

/** The local answer, unchanged but for the summary and the federation block saying why no peer took the rest. */
export function withFederationFailure(local: ServiceAnswer, report: FederationReport): ServiceAnswer {
  const why = report.reasons.map((r) => r.message).join('; ');
  return { ...local, summary: `${local.summary}; federation: ${why || report.status}`, federation: report };
}
