/**
 * Splitting (interfaces.md §1.4, §3.8): decides which components of a partly admitted service go to a peer, with which
 * VM bounds, refuses splits the affinity rules forbid, and writes the sub-manifest. No network, no model.
 */
import { AdmissionError } from '../model/errors';
import type { ComponentDecision } from '../admission-controller/decisions';
import { EAC_CAPABILITIES_NS, OPT_IP_NS, OPT_NS, OVF_NS } from '../formats/optimis-manifest/namespaces';
import { parseManifest, type ParsedManifest } from '../formats/optimis-manifest/parse';
import { attribute, childElements, descendants, elementExtent, escapeAttribute, firstChild, parseXml, textOf, type XmlDocument, type XmlElement } from '../xml/safe-xml';
import { requirementText } from '../model/capabilities';
import type { FederationReason, SentComponent } from './types';
import { applyEdits, removeElement, replaceText, type Edit } from '../xml/xml-edit';

/*
 * Decisions (docs/federation.md, "Splitting"):
 * - What is sent: every component NOT admitted locally, whole, and the federated VMs of components that ARE admitted
 *   locally (OPTIMIS dropped those, defect D5). A service with nothing local is sent whole.
 * - Bounds of a component not admitted locally: Initial = the manifest's Initial (its basic VMs must run somewhere for
 *   the service to be covered; min(Initial, φ) would let a peer "accept" fewer), UpperBound = max(φ, Initial) where φ is
 *   what the model chose to federate, or the manifest's UpperBound when the model left the component out (φ = 0):
 *   without it the service cannot be covered, and the peer's own model decides how many elastic VMs it can give.
 * - Bounds of a locally admitted component with φ > 0 ("elastic top-up"): Initial = UpperBound = φ. Its basic VMs run
 *   here; the φ VMs are what the model needs elsewhere to reach the availability target, so they are all required.
 * - LowerBound (ignored by every admission model) is clamped to the new UpperBound so the numbers stay coherent.
 * - Refusals (§1.4): a High or Medium affinity RULE must not have members on both sides (all members sent whole, or
 *   none sent); a component whose own affinity is Medium or High must not have its instances split (top-up refused).
 *   Anti-affinity never forbids a split: Medium is about hosts inside one cloud, High asks for different clouds. (The
 *   OPTIMIS splitter's "Low anti-affinity forbids" check is inverted, D8, and is not reproduced.)
 * - The sub-manifest keeps everything else of the input byte-for-byte, with every Scope (rules, TREC, elasticity, data
 *   protection sections) restricted to the sent components and sections left with an empty scope removed, SP
 *   configurations of other components removed, and InfrastructureProviderExtensions dropped (the local offer and
 *   incarnated components are this provider's business, not the peer's).
 */

const OPT_SP_NS = 'http://schemas.optimis.eu/optimis/service';

export interface SplitPlan {
  readonly serviceId: string;
  readonly components: readonly SentComponent[];
  /** True when nothing of the service is admitted locally (the whole service is sent). */
  readonly whole: boolean;
}

export type SplitResult = { readonly ok: true; readonly plan: SplitPlan } | { readonly ok: false; readonly reasons: readonly FederationReason[] };

type ComponentOutcome = Pick<ComponentDecision, 'id' | 'acceptedLocally' | 'federatedVms'>;

const LEVEL_NAME = ['Low', 'Medium', 'High'] as const;

/**
 * What to send for one service, or undefined when nothing needs a peer (every component admitted locally and no VM to
 * federate). `components` are the local decision's components (same ids as the manifest).
 */
export function planSplit(parsed: ParsedManifest, components: readonly ComponentOutcome[]): SplitResult | undefined {
  const outcome = new Map(components.map((c) => [c.id, c]));
  const sent: SentComponent[] = [];
  for (const c of parsed.components) {
    const o = outcome.get(c.id);
    if (!o) throw new AdmissionError('AC_ERR_INTERNAL', `split: no decision for component '${c.id}' of ${parsed.serviceId}`);
    if (!o.acceptedLocally) {
      const upperBound = o.federatedVms > 0 ? Math.max(o.federatedVms, c.basic) : c.maxVms;
      sent.push({ componentId: c.id, reason: 'not-admitted-locally', initial: c.basic, upperBound, modelFederatedVms: o.federatedVms });
    } else if (o.federatedVms > 0) {
      sent.push({ componentId: c.id, reason: 'elastic-top-up', initial: o.federatedVms, upperBound: o.federatedVms, modelFederatedVms: o.federatedVms });
    }
  }
  if (sent.length === 0) return undefined;

  const whole = new Set(sent.filter((s) => s.reason === 'not-admitted-locally').map((s) => s.componentId));
  const touched = new Set(sent.map((s) => s.componentId));
  const reasons: FederationReason[] = [];
  for (const rule of parsed.rules) {
    if (rule.kind !== 'affinity') continue;
    const going = rule.members.filter((m) => touched.has(m));
    if (going.length === 0 || rule.members.every((m) => whole.has(m))) continue;
    const staying = rule.members.filter((m) => !whole.has(m));
    reasons.push({
      code: 'SPLIT_NOT_ALLOWED',
      message:
        `the ${LEVEL_NAME[rule.level]} affinity rule over ${rule.members.join(', ')} keeps its components together: ` +
        `${going.join(', ')} would go to a peer while ${staying.join(', ')} ${staying.length === 1 ? 'runs' : 'run'} here`,
      data: { rule: 'affinity', level: LEVEL_NAME[rule.level], members: rule.members, sent: going, local: staying },
    });
  }
  for (const s of sent) {
    if (s.reason !== 'elastic-top-up') continue;
    const c = parsed.components.find((x) => x.id === s.componentId)!;
    if (c.affinity >= 1) {
      reasons.push({
        code: 'SPLIT_NOT_ALLOWED',
        message: `${c.id} has ${LEVEL_NAME[c.affinity]} affinity: its instances may not be split between this provider and a peer`,
        data: { rule: 'component-affinity', level: LEVEL_NAME[c.affinity], members: [c.id], sent: [c.id], local: [c.id] },
      });
    }
  }
  if (reasons.length > 0) return { ok: false, reasons };
  return { ok: true, plan: { serviceId: parsed.serviceId, components: sent, whole: whole.size === parsed.components.length } };
}

/**
 * The sub-manifest for `plan`, from the service's input manifest (see the file header for what it contains). It is
 * parsed again before it is returned: a sub-manifest this service could not read itself is a bug, not a request.
 */
export function buildSubManifest(xml: string, plan: SplitPlan, merged?: ParsedManifest): string {
  const doc = parseXml(xml);
  const sent = new Map(plan.components.map((c) => [c.componentId, c]));
  const edits: Edit[] = [];
  // Requirements given beside the manifest (the JSON body's capabilities) travel in it as eac elements, so a peer
  // places those components on its qualifying hosts too.
  const extra = merged ? capabilitiesBeyondXml(xml, merged) : new Map<string, string>();
  const visit = (el: XmlElement, depth: number): void => {
    for (const child of childElements(el)) {
      if (depth === 0 && child.ns === OPT_IP_NS && child.local === 'InfrastructureProviderExtensions') {
        edits.push(removeElement(doc, child));
        continue;
      }
      if (child.ns === OPT_NS && child.local === 'VirtualMachineComponent') {
        const id = attribute(child, OPT_NS, 'componentId')?.trim() ?? '';
        const s = sent.get(id);
        if (!s) edits.push(removeElement(doc, child));
        else {
          edits.push(...boundEdits(doc, child, s));
          const add = extra.get(id);
          const hardware = add ? descendants(child, OVF_NS, 'VirtualHardwareSection')[0] : undefined;
          if (add && hardware) {
            const ext = elementExtent(doc, hardware);
            if (!ext.selfClosing) edits.push({ from: ext.endTagStart, to: ext.endTagStart, text: add });
          }
        }
        continue;
      }
      const scope = firstChild(child, OPT_NS, 'Scope');
      if (scope) {
        edits.push(...scopeEdits(doc, child, scope, sent));
        continue;
      }
      if (child.ns === OPT_SP_NS && child.local === 'VirtualMachineComponentConfiguration') {
        const id = attribute(child, OPT_SP_NS, 'componentId')?.trim();
        if (id !== undefined && !sent.has(id)) edits.push(removeElement(doc, child));
        continue;
      }
      visit(child, depth + 1);
    }
  };
  visit(doc.root, 0);
  const out = applyEdits(doc.source, edits);
  try {
    const check = parseManifest(out);
    const ids = check.components.map((c) => c.id);
    if (ids.length !== plan.components.length || plan.components.some((c) => !ids.includes(c.componentId))) throw new Error(`components ${ids.join(', ')}`);
  } catch (error) {
    throw new AdmissionError('AC_ERR_INTERNAL', `split: the sub-manifest of ${plan.serviceId} does not read back: ${error instanceof Error ? error.message : String(error)}`);
  }
  return out;
}

/**
 * Per component, the eac elements for what `merged` (the manifest with the JSON body's capabilities added) requires
 * beyond what the XML itself says: requirements by their text form, same-value rules by capability.
 */
function capabilitiesBeyondXml(xml: string, merged: ParsedManifest): Map<string, string> {
  const own = parseManifest(xml);
  const out = new Map<string, string>();
  const ownSame = new Set(own.sameValue.flatMap((r) => r.members.map((m) => `${r.capability}\u0000${m}`)));
  for (const c of merged.components) {
    const mine = new Set((own.components.find((x) => x.id === c.id)?.requires ?? []).map(requirementText));
    let text = '';
    for (const r of c.requires ?? []) {
      if (mine.has(requirementText(r))) continue;
      const ns = ` xmlns:eac="${EAC_CAPABILITIES_NS}"`;
      text += r.kind === 'forbidden' ? `<eac:Forbids${ns} name="${escapeAttribute(r.name)}"/>` : `<eac:Requires${ns} name="${escapeAttribute(r.name)}"${r.range !== undefined ? ` range="${escapeAttribute(r.range)}"` : ''}/>`;
    }
    for (const rule of merged.sameValue) {
      if (rule.members.includes(c.id) && !ownSame.has(`${rule.capability}\u0000${c.id}`)) text += `<eac:SameValue xmlns:eac="${EAC_CAPABILITIES_NS}" name="${escapeAttribute(rule.capability)}"/>`;
    }
    if (text) out.set(c.id, text);
  }
  return out;
}

/** Initial / UpperBound / LowerBound of a sent component. */
function boundEdits(doc: XmlDocument, component: XmlElement, s: SentComponent): Edit[] {
  const ac = firstChild(component, OPT_NS, 'AllocationConstraints');
  if (!ac) return []; // cannot happen for a manifest that parsed; the read-back check would catch it
  const edits: Edit[] = [];
  const set = (local: string, value: number): void => {
    const el = firstChild(ac, OPT_NS, local);
    if (el && textOf(el).trim() !== String(value)) edits.push(replaceText(doc, el, String(value)));
  };
  set('UpperBound', s.upperBound);
  set('Initial', s.initial);
  const lower = firstChild(ac, OPT_NS, 'LowerBound');
  const lowerValue = lower ? Number(textOf(lower).trim()) : NaN;
  if (lower && Number.isFinite(lowerValue) && lowerValue > s.upperBound) edits.push(replaceText(doc, lower, String(s.upperBound)));
  return edits;
}

/** A scoped section keeps the sent members of its scope; with none left it goes. */
function scopeEdits(doc: XmlDocument, section: XmlElement, scope: XmlElement, sent: ReadonlyMap<string, SentComponent>): Edit[] {
  const ids = childElements(scope, OPT_NS, 'ComponentId');
  const keep = ids.filter((e) => sent.has(textOf(e).trim()));
  if (keep.length === 0) return [removeElement(doc, section)];
  return ids.filter((e) => !keep.includes(e)).map((e) => removeElement(doc, e));
}
