/**
 * Reads an OPTIMIS service manifest into plain data: what OPTIMIS reads (interfaces.md §1.3) plus the TREC bounds it ignored.
 * Lookups are by namespace URI, never by prefix; every problem becomes an AC_ERR_INVALID_MANIFEST detail naming the element.
 */
import { AdmissionError, type ErrorDetail } from '../../model/errors';
import { requirementProblem, requirementText } from '../../model/capabilities';
import type { CapabilityRequirement, Level, Rule, SameValueRule, TrecConstraints } from '../../model/types';
import { EAC_CAPABILITIES_NS, OPT_NS, OVF_NS, RASD_NS } from './namespaces';
import { attribute, childElements, descendants, escapeText, firstChild, parseXml, textOf, type XmlDocument, type XmlElement } from '../../xml/safe-xml';

/*
 * Decisions (each one deliberate, see the comments where they are applied):
 * - Availability: a component's target is the STRICTEST (highest) Availability of every RiskSection that scopes it,
 *   whatever its assessmentInterval. The model has one interval-free target (cdf ≥ av), and an accepted component must
 *   honour every target the SP declared, so the binding one is the maximum. (OPTIMIS took the first entry and truncated
 *   it: 99.9 → 99; we keep 99.9 → 0.999.) No entry → 1.0, as in OPTIMIS. 0 % means "no requirement" → 0.
 * - Trust: the service must satisfy every TrustSection, so trust ≥ max(MinimumTrustLevel); risk ≤ min(RiskLevel).
 *   RiskLevel is taken on its own scale (OPTIMIS levels; the default bound 7 is on that scale too).
 * - Cost: the model's money is 10 × the price plan (gain G = 10 × planFloor, model.md §2.2, basicCost.csv), so the plan's
 *   ceiling becomes cost ≤ 10 × planCap. The first PricePlan in document order is "the" plan (the one quoted back in the
 *   offer); further plans are validated but do not set bounds.
 * - Eco: left undefined. EcoEfficiencySection holds certifications of the provider's facilities (LEED, BREEAM,
 *   Energy Star, ISO 14000…) and free-named metric thresholds; none of them is a bound on the numeric TREC eco score the
 *   model compares (Eco(a) ≥ ec). Inventing a scale would make admissions depend on a made-up number, and checking
 *   the certifications would need the provider's own certifications, which this module does not have.
 */

export interface ParsedComponent {
  /** `@opt:componentId`. */
  readonly id: string;
  /** `ovf:VirtualSystem/@ovf:id`: OPTIMIS's internal key of the component in the solver round trip. */
  readonly virtualSystemId: string;
  /** `rasd:VirtualQuantity` of the CPU item (never `ElementName`, which is free text and often wrong). */
  readonly vcpus: number;
  /** Memory per VM in MB, when the VM declares a memory item. */
  readonly memoryMb?: number;
  /** Basic VMs `b`: `AllocationConstraints/Initial`. */
  readonly basic: number;
  /** Maximum VMs `U`: `AllocationConstraints/UpperBound`. */
  readonly maxVms: number;
  /** `AllocationConstraints/LowerBound`: reported, not used (OPTIMIS ignores it; its own samples have Lower > Upper). */
  readonly lowerBound: number | undefined;
  /** Availability target as a fraction in [0, 1] (see the file header for the choice of entry). */
  readonly availability: number;
  readonly affinity: Level;
  readonly antiAffinity: Level;
  /** eac:Requires / eac:Forbids of its VirtualHardwareSection; absent when it has none. */
  readonly requires?: readonly CapabilityRequirement[];
}

export interface ParsedPricePlan {
  readonly currency: string | undefined;
  /** `@opt:planFloor`; 0 when absent (no minimum charge). */
  readonly planFloor: number;
  /** `@opt:planCap`; undefined when absent (no ceiling, hence no cost bound). */
  readonly planCap: number | undefined;
  /**
   * The plan as the `<pricePlan>` fragment OPTIMIS embeds in `opt-ip:Cost` (unqualified elements currency, planCap,
   * planFloor, name, priceComponent…; interfaces.md §1.6). Pass it as `costXml` to writeAllocationOffer.
   */
  readonly xml: string;
}

export interface ParsedManifest {
  readonly manifestId: string;
  readonly serviceProviderId: string | undefined;
  readonly serviceId: string;
  readonly federationAllowed: boolean;
  /** In document order. */
  readonly components: readonly ParsedComponent[];
  /** Medium and High rules over component ids (Low rules constrain nothing and are omitted). */
  readonly rules: readonly Rule[];
  /** One rule per capability named by some component's eac:SameValue: those components share its value. */
  readonly sameValue: readonly SameValueRule[];
  /** Service availability target: the maximum of the component targets (as OPTIMIS), as a fraction. */
  readonly availability: number;
  /** Only the bounds the manifest states; the caller merges them over its defaults/policy. */
  readonly trecConstraints: Partial<TrecConstraints>;
  readonly pricePlan: ParsedPricePlan | undefined;
}

/** OPTIMIS's money scale: the model's gain is 10 × planFloor, hence the cost bound 10 × planCap. */
export const PRICE_PLAN_SCALE = 10;

const LEVELS: Readonly<Record<string, Level>> = { Low: 0, Medium: 1, High: 2 };

export function parseManifest(xml: string): ParsedManifest {
  return parseManifestDocument(xml).manifest;
}

/** Like parseManifest, also returning the parsed document so that the offer can be written without parsing again. */
export function parseManifestDocument(xml: string): { manifest: ParsedManifest; document: XmlDocument } {
  const document = parseXml(xml);
  return { manifest: readManifest(document.root), document };
}

function readManifest(root: XmlElement): ParsedManifest {
  if (root.ns !== OPT_NS || root.local !== 'ServiceManifest') {
    throw invalid([{ field: 'ServiceManifest', reason: `the root element is {${root.ns}}${root.local}, expected {${OPT_NS}}ServiceManifest` }]);
  }
  const issues = new Issues();

  const manifestId = optAttribute(issues, root, 'manifestId', 'ServiceManifest/@manifestId');
  const serviceProviderId = attribute(root, OPT_NS, 'serviceProviderId');

  const descriptions = childElements(root, OPT_NS, 'VirtualMachineDescription');
  const vmd = descriptions[0];
  if (!vmd) {
    throw invalid([{ field: 'VirtualMachineDescription', reason: 'missing: the manifest describes no service' }]);
  }
  if (descriptions.length > 1) {
    // OPTIMIS silently used the first one and dropped the others' components; an admission on part of a service is wrong.
    issues.add('VirtualMachineDescription[2]', `the schema allows exactly one VirtualMachineDescription per manifest; found ${descriptions.length}`);
  }

  const serviceId = optAttribute(issues, vmd, 'serviceId', 'VirtualMachineDescription/@serviceId');
  const federationField = 'VirtualMachineDescription/@isFederationAllowed';
  const federationText = optAttribute(issues, vmd, 'isFederationAllowed', federationField);
  const federationAllowed = federationText ? readBoolean(issues, federationText, federationField) : undefined;

  const componentElements = childElements(vmd, OPT_NS, 'VirtualMachineComponent');
  if (componentElements.length === 0) issues.add('VirtualMachineDescription/VirtualMachineComponent', 'missing: the service has no component');
  const drafts = componentElements.map((el, i) => readComponent(issues, el, i));
  const known = new Set<string>();
  drafts.forEach((d, i) => {
    if (!d.id) return;
    if (known.has(d.id)) issues.add(`VirtualMachineComponent[${i + 1}]/@componentId`, `duplicate component id '${d.id}'`);
    known.add(d.id);
  });

  const rules = readRules(issues, vmd, known);
  const trec = readTrec(issues, firstChild(root, OPT_NS, 'TRECSection'), known, serviceId);

  issues.throwIfAny();

  const components: ParsedComponent[] = drafts.map((d) => {
    const pct = trec.availabilityPct.get(d.id);
    return {
      id: d.id,
      virtualSystemId: d.virtualSystemId!,
      vcpus: d.vcpus!,
      ...(d.memoryMb !== undefined ? { memoryMb: d.memoryMb } : {}),
      basic: d.basic!,
      maxVms: d.maxVms!,
      lowerBound: d.lowerBound,
      availability: pct === undefined ? 1 : percentToFraction(pct),
      affinity: d.affinity!,
      antiAffinity: d.antiAffinity!,
      ...(d.requires.length > 0 ? { requires: d.requires } : {}),
    };
  });
  const sameValue = new Map<string, string[]>();
  for (const d of drafts) for (const name of d.sameValue) sameValue.set(name, [...(sameValue.get(name) ?? []), d.id]);
  return {
    manifestId,
    serviceProviderId,
    serviceId,
    federationAllowed: federationAllowed!,
    components,
    rules,
    sameValue: [...sameValue].map(([capability, members]) => ({ capability, members })),
    availability: Math.max(...components.map((c) => c.availability)),
    trecConstraints: trec.constraints,
    pricePlan: trec.pricePlan,
  };
}

// ---------------------------------------------------------------------------------------------
// Components

interface ComponentDraft {
  id: string;
  virtualSystemId?: string;
  vcpus?: number;
  memoryMb?: number;
  basic?: number;
  maxVms?: number;
  lowerBound?: number;
  affinity?: Level;
  antiAffinity?: Level;
  requires: CapabilityRequirement[];
  /** Capability names of its eac:SameValue elements. */
  sameValue: string[];
}

function readComponent(issues: Issues, el: XmlElement, index: number): ComponentDraft {
  const id = attribute(el, OPT_NS, 'componentId')?.trim() ?? '';
  const name = `VirtualMachineComponent[${id || index + 1}]`;
  if (!id) optAttribute(issues, el, 'componentId', `${name}/@componentId`);
  const draft: ComponentDraft = { id, requires: [], sameValue: [] };

  const ovf = firstChild(el, OPT_NS, 'OVFDefinition');
  if (!ovf) issues.add(`${name}/OVFDefinition`, 'missing');
  const systems = ovf ? descendants(ovf, OVF_NS, 'VirtualSystem') : [];
  if (ovf && systems.length === 0) issues.add(`${name}/OVFDefinition/VirtualSystem`, 'missing: the component describes no VM');
  if (systems.length > 1) issues.add(`${name}/OVFDefinition/VirtualSystem`, `found ${systems.length}; a component describes exactly one VM template`);
  const system = systems[0];
  if (system) {
    draft.virtualSystemId = attribute(system, OVF_NS, 'id')?.trim();
    if (!draft.virtualSystemId) issues.add(`${name}/OVFDefinition/VirtualSystem/@id`, 'missing');
    const items = descendants(system, OVF_NS, 'Item');

    const hw = `${name}/OVFDefinition/VirtualSystem/VirtualHardwareSection`;
    const cpu = pickItem(items, '3', /cpu|processor/i);
    if (!cpu) {
      issues.add(`${hw}/Item[ResourceType=3]`, 'missing: no CPU item (rasd:ResourceType 3 with rasd:VirtualQuantity)');
    } else {
      const field = `${hw}/Item[ResourceType=3]/VirtualQuantity`;
      const vcpus = wholeNumber(issues, rasd(cpu, 'VirtualQuantity'), field, true, 'negative CPUs');
      if (vcpus === 0) issues.add(field, 'vCPUs 0: a VM needs at least one CPU');
      else draft.vcpus = vcpus;
    }
    const memory = pickItem(items, '4', /memory/i);
    if (memory) draft.memoryMb = readMemoryMb(issues, memory, `${hw}/Item[ResourceType=4]`);
    readCapabilities(issues, system, hw, draft);
  }
  // Anywhere else the schemas do not accept them: a requirement there would be silently ignored by OPTIMIS's
  // validators and by us, so it is refused (the manifest would not be valid against the XSDs either).
  for (const stray of EAC_ELEMENTS.flatMap((local) => descendants(el, EAC_CAPABILITIES_NS, local))) {
    if (!placed.has(stray)) issues.add(`${name}/eac:${stray.local}`, 'must be a child of ovf:VirtualHardwareSection (after its ovf:Item elements): the only place the schemas accept it');
  }

  const ac = firstChild(el, OPT_NS, 'AllocationConstraints');
  if (!ac) {
    issues.add(`${name}/AllocationConstraints`, 'missing');
  } else {
    const f = `${name}/AllocationConstraints`;
    draft.lowerBound = wholeNumber(issues, childText(ac, 'LowerBound'), `${f}/LowerBound`, false);
    const upper = wholeNumber(issues, childText(ac, 'UpperBound'), `${f}/UpperBound`, true);
    const initial = wholeNumber(issues, childText(ac, 'Initial'), `${f}/Initial`, true);
    if (upper !== undefined && initial !== undefined) {
      if (upper < initial) {
        issues.add(`${f}/UpperBound`, `UpperBound ${upper} is below Initial ${initial}: the maximum number of VMs cannot be smaller than the basic ones`);
      } else if (upper === 0) {
        // OPTIMIS silently wrote 1; a component that may run no VM at all is a manifest error, not a guess to make.
        issues.add(`${f}/UpperBound`, 'UpperBound 0: a component must allow at least one VM');
      } else {
        draft.maxVms = upper;
        draft.basic = initial;
      }
    }
  }

  draft.affinity = readLevel(issues, firstChild(el, OPT_NS, 'AffinityConstraints'), `${name}/AffinityConstraints`);
  draft.antiAffinity = readLevel(issues, firstChild(el, OPT_NS, 'AntiAffinityConstraints'), `${name}/AntiAffinityConstraints`);
  return draft;
}

const EAC_ELEMENTS = ['Requires', 'Forbids', 'SameValue'] as const;
/** eac elements read from their one legal place (the others are reported as misplaced). */
const placed = new WeakSet<XmlElement>();

/** eac:Requires name= range=?, eac:Forbids name=, eac:SameValue name= in each VirtualHardwareSection of the VM. */
function readCapabilities(issues: Issues, system: XmlElement, hw: string, draft: ComponentDraft): void {
  for (const section of childElements(system, OVF_NS, 'VirtualHardwareSection')) {
    for (const el of childElements(section, EAC_CAPABILITIES_NS)) {
      placed.add(el);
      const field = `${hw}/eac:${el.local}`;
      const name = attribute(el, '', 'name')?.trim();
      if (el.local === 'Requires' || el.local === 'Forbids') {
        const range = attribute(el, '', 'range');
        const requirement: CapabilityRequirement =
          el.local === 'Forbids' ? { kind: 'forbidden', name: name ?? '', ...(range !== undefined ? { range } : {}) } : { kind: 'required', name: name ?? '', ...(range !== undefined ? { range: range.trim() } : {}) };
        const problem = requirementProblem(requirement);
        if (problem) issues.add(field, problem);
        else if (draft.requires.some((r) => requirementText(r) === requirementText(requirement))) issues.add(field, `${requirementText(requirement)} is stated twice`);
        else draft.requires.push(requirement);
      } else if (el.local === 'SameValue') {
        const problem = requirementProblem({ kind: 'required', name });
        if (problem) issues.add(`${field}/@name`, problem);
        else if (!draft.sameValue.includes(name!)) draft.sameValue.push(name!);
      } else {
        issues.add(field, `unknown element: the ${EAC_CAPABILITIES_NS} namespace has ${EAC_ELEMENTS.map((e) => `eac:${e}`).join(', ')}`);
      }
    }
  }
  const requiredNames = new Set(draft.requires.filter((r) => r.kind === 'required').map((r) => r.name));
  for (const r of draft.requires) if (r.kind === 'forbidden' && requiredNames.has(r.name)) issues.add(`${hw}/eac:Forbids`, `${r.name} is both required and forbidden: no host can satisfy both`);
}

/**
 * The item OPTIMIS would pick (ResourceType and a Description naming the resource), or else the first item of that
 * ResourceType that has a quantity: OPTIMIS crashed on a Description-less item, while OVF makes Description optional.
 */
function pickItem(items: readonly XmlElement[], resourceType: string, description: RegExp): XmlElement | undefined {
  const typed = items.filter((it) => rasd(it, 'ResourceType')?.trim() === resourceType);
  return (
    typed.find((it) => description.test(rasd(it, 'Description') ?? '') && rasd(it, 'VirtualQuantity') !== undefined) ??
    typed.find((it) => rasd(it, 'VirtualQuantity') !== undefined) ??
    typed.find((it) => description.test(rasd(it, 'Description') ?? ''))
  );
}

function rasd(item: XmlElement, local: string): string | undefined {
  const el = firstChild(item, RASD_NS, local);
  return el ? textOf(el) : undefined;
}

/** MB per allocation unit; OPTIMIS assumed MB, and every sample says "MegaBytes", so an absent unit means MB. */
const MEMORY_UNITS: Readonly<Record<string, number>> = {
  megabytes: 1, megabyte: 1, mb: 1, mib: 1, 'byte * 2^20': 1,
  gigabytes: 1024, gigabyte: 1024, gb: 1024, gib: 1024, 'byte * 2^30': 1024,
  kilobytes: 1 / 1024, kilobyte: 1 / 1024, kb: 1 / 1024, kib: 1 / 1024, 'byte * 2^10': 1 / 1024,
  bytes: 1 / 1048576, byte: 1 / 1048576,
};

function readMemoryMb(issues: Issues, item: XmlElement, field: string): number | undefined {
  const quantity = decimalNumber(issues, rasd(item, 'VirtualQuantity'), `${field}/VirtualQuantity`, true, { min: 0 });
  const unitText = rasd(item, 'AllocationUnits')?.trim().replace(/\s+/g, ' ');
  const factor = unitText ? MEMORY_UNITS[unitText.toLowerCase()] : 1;
  if (factor === undefined) {
    issues.add(`${field}/AllocationUnits`, `unknown memory unit '${unitText}' (expected MegaBytes, GigaBytes, KiloBytes, byte or byte * 2^n)`);
    return undefined;
  }
  return quantity === undefined ? undefined : quantity * factor;
}

// ---------------------------------------------------------------------------------------------
// Rules

const RULE_KINDS = [
  { kind: 'affinity', section: 'AffinitySection', rule: 'AffinityRule', level: 'AffinityConstraints' },
  { kind: 'antiAffinity', section: 'AntiAffinitySection', rule: 'AntiAffinityRule', level: 'AntiAffinityConstraints' },
] as const;

function readRules(issues: Issues, vmd: XmlElement, known: ReadonlySet<string>): Rule[] {
  const rules: Rule[] = [];
  for (const k of RULE_KINDS) {
    for (const section of childElements(vmd, OPT_NS, k.section)) {
      childElements(section, OPT_NS, k.rule).forEach((ruleEl, j) => {
        const field = `${k.section}/${k.rule}[${j + 1}]`;
        const members = readScope(issues, ruleEl, field, known);
        const level = readLevel(issues, firstChild(ruleEl, OPT_NS, k.level), `${field}/${k.level}`);
        if ((level === 1 || level === 2) && members.length > 0) rules.push({ kind: k.kind, level, members });
      });
    }
  }
  return rules;
}

/** Scope/ComponentId+ of a rule or TREC section: ids must name components of this manifest (the schema's keyref). */
function readScope(issues: Issues, section: XmlElement, field: string, known: ReadonlySet<string>): string[] {
  const scope = firstChild(section, OPT_NS, 'Scope');
  if (!scope) {
    issues.add(`${field}/Scope`, 'missing');
    return [];
  }
  const ids = childElements(scope, OPT_NS, 'ComponentId').map((e) => textOf(e).trim());
  if (ids.length === 0) issues.add(`${field}/Scope`, 'names no ComponentId');
  const members: string[] = [];
  ids.forEach((id, j) => {
    if (!known.has(id)) {
      issues.add(`${field}/Scope/ComponentId[${j + 1}]`, `unknown component id '${id}' (the manifest declares ${[...known].map((x) => `'${x}'`).join(', ') || 'none'})`);
    } else if (!members.includes(id)) {
      members.push(id);
    }
  });
  return members;
}

/** Low|Medium|High (schema enumeration, case-sensitive). An absent element is Low: no constraint, nothing lost. */
function readLevel(issues: Issues, el: XmlElement | undefined, field: string): Level | undefined {
  if (!el) return 0;
  const word = textOf(el).trim();
  const level = Object.prototype.hasOwnProperty.call(LEVELS, word) ? LEVELS[word] : undefined;
  if (level === undefined) issues.add(field, `unknown level '${word}' (expected Low, Medium or High)`);
  return level;
}

// ---------------------------------------------------------------------------------------------
// TREC

interface TrecReading {
  availabilityPct: Map<string, number>;
  constraints: Partial<TrecConstraints>;
  pricePlan: ParsedPricePlan | undefined;
}

function readTrec(issues: Issues, trec: XmlElement | undefined, known: ReadonlySet<string>, serviceId: string): TrecReading {
  const availabilityPct = new Map<string, number>();
  const constraints: { -readonly [K in keyof TrecConstraints]?: number } = {};
  let pricePlan: ParsedPricePlan | undefined;
  if (!trec) return { availabilityPct, constraints, pricePlan }; // fine: defaults apply (OPTIMIS crashed here)

  childElements(trec, OPT_NS, 'TrustSection').forEach((s, k) => {
    const field = `TRECSection/TrustSection[${k + 1}]`;
    readScope(issues, s, field, known);
    const min = wholeNumber(issues, childText(s, 'MinimumTrustLevel'), `${field}/MinimumTrustLevel`, true);
    // 0 states no bound (any provider is trusted enough); the scale is the Trust Framework's 0–5.
    if (min !== undefined && min > 0) constraints.trust = Math.max(constraints.trust ?? min, min);
  });

  childElements(trec, OPT_NS, 'RiskSection').forEach((s, k) => {
    const field = `TRECSection/RiskSection[${k + 1}]`;
    const ids = readScope(issues, s, field, known);
    const level = wholeNumber(issues, childText(s, 'RiskLevel'), `${field}/RiskLevel`, false);
    // 0 states no bound (OPTIMIS's schema allows it; read as a bound it would demand zero risk, which no level meets).
    if (level !== undefined && level > 0) constraints.risk = Math.min(constraints.risk ?? level, level);
    const array = firstChild(s, OPT_NS, 'AvailabilityArray');
    (array ? childElements(array, OPT_NS, 'Availability') : []).forEach((a, j) => {
      const pct = decimalNumber(issues, textOf(a), `${field}/AvailabilityArray/Availability[${j + 1}]`, true, { min: 0, max: 100 });
      if (pct === undefined) return;
      // Strictest target wins, whatever the interval (file header).
      for (const id of ids) availabilityPct.set(id, Math.max(availabilityPct.get(id) ?? pct, pct));
    });
  });

  childElements(trec, OPT_NS, 'EcoEfficiencySection').forEach((s, k) => {
    readScope(issues, s, `TRECSection/EcoEfficiencySection[${k + 1}]`, known); // eco bound: see file header
  });

  childElements(trec, OPT_NS, 'CostSection').forEach((s, k) => {
    const field = `TRECSection/CostSection[${k + 1}]`;
    readScope(issues, s, field, known);
    childElements(s, OPT_NS, 'PricePlan').forEach((p, j) => {
      const plan = readPricePlan(issues, p, `${field}/PricePlan[${j + 1}]`, serviceId);
      if (plan && !pricePlan) pricePlan = plan;
    });
  });
  if (pricePlan?.planCap !== undefined) constraints.cost = round12(PRICE_PLAN_SCALE * pricePlan.planCap);

  return { availabilityPct, constraints, pricePlan };
}

function readPricePlan(issues: Issues, plan: XmlElement, field: string, serviceId: string): ParsedPricePlan | undefined {
  const before = issues.count;
  const currency = attribute(plan, OPT_NS, 'currency')?.trim() || undefined;
  const floor = decimalNumber(issues, attribute(plan, OPT_NS, 'planFloor'), `${field}/@planFloor`, false, { min: 0 });
  const cap = decimalNumber(issues, attribute(plan, OPT_NS, 'planCap'), `${field}/@planCap`, false, { min: 0 });
  if (floor !== undefined && cap !== undefined && cap < floor) issues.add(`${field}/@planCap`, `planCap ${cap} is below planFloor ${floor}`);

  // The OPTIMIS <pricePlan> vocabulary (cost.xml), built element by element with escaped values.
  let xml = '<pricePlan>';
  if (currency !== undefined) xml += element('currency', currency);
  if (cap !== undefined) xml += element('planCap', String(cap));
  if (floor !== undefined) xml += element('planFloor', String(floor));
  if (serviceId) xml += element('name', serviceId);
  childElements(plan, OPT_NS, 'PriceComponent').forEach((c, m) => {
    const f = `${field}/PriceComponent[${m + 1}]`;
    const cCap = decimalNumber(issues, attribute(c, OPT_NS, 'componentCap'), `${f}/@componentCap`, false, { min: 0 });
    const cFloor = decimalNumber(issues, attribute(c, OPT_NS, 'componentFloor'), `${f}/@componentFloor`, false, { min: 0 });
    xml += '<priceComponent>' + element('name', childText(c, 'Name')?.trim() ?? '');
    if (cCap !== undefined) xml += element('componentCap', String(cCap));
    if (cFloor !== undefined) xml += element('componentFloor', String(cFloor));
    childElements(c, OPT_NS, 'PriceLevel').forEach((l, q) => {
      const amount = decimalNumber(issues, childText(l, 'AbsoluteAmount'), `${f}/PriceLevel[${q + 1}]/AbsoluteAmount`, true, {});
      xml +=
        '<priceLevel>' +
        element('priceType', childText(l, 'PriceType')?.trim() ?? '') +
        element('name', childText(l, 'Name')?.trim() ?? '') +
        element('absoluteAmount', amount === undefined ? '' : String(amount)) +
        element('multiplier', childText(l, 'Multiplier')?.trim() ?? '') +
        '</priceLevel>';
    });
    xml += '</priceComponent>';
  });
  xml += '</pricePlan>';
  if (issues.count > before) return undefined;
  return { currency, planFloor: floor ?? 0, planCap: cap, xml };
}

function element(name: string, value: string): string {
  return `<${name}>${escapeText(value)}</${name}>`;
}

// ---------------------------------------------------------------------------------------------
// Values

class Issues {
  private readonly list: ErrorDetail[] = [];
  add(field: string, reason: string): void {
    this.list.push({ field, reason });
  }
  get count(): number {
    return this.list.length;
  }
  throwIfAny(): void {
    if (this.list.length > 0) throw invalid(this.list);
  }
}

function invalid(details: readonly ErrorDetail[]): AdmissionError {
  const first = details[0]!;
  const more = details.length > 1 ? ` (and ${details.length - 1} more problem${details.length > 2 ? 's' : ''})` : '';
  return new AdmissionError('AC_ERR_INVALID_MANIFEST', `Invalid service manifest: ${first.field}: ${first.reason}${more}`, details);
}

function childText(el: XmlElement, local: string): string | undefined {
  const c = firstChild(el, OPT_NS, local);
  return c ? textOf(c) : undefined;
}

/**
 * A required opt:-qualified attribute, trimmed ('' when missing). The schemas say attributeFormDefault="qualified",
 * so an unprefixed `componentId="…"` is a different attribute; the message says so instead of a bare "missing".
 */
function optAttribute(issues: Issues, el: XmlElement, local: string, field: string): string {
  const value = attribute(el, OPT_NS, local)?.trim();
  if (value) return value;
  if (value === '') issues.add(field, 'empty');
  else if (attribute(el, '', local) !== undefined) {
    issues.add(field, `missing: found an unqualified '${local}', but manifest attributes are namespace-qualified (e.g. opt:${local})`);
  } else issues.add(field, 'missing');
  return '';
}

function readBoolean(issues: Issues, raw: string | undefined, field: string): boolean | undefined {
  const v = raw?.trim();
  if (v === undefined) issues.add(field, 'missing');
  else if (v === 'true' || v === '1') return true;
  else if (v === 'false' || v === '0') return false;
  else issues.add(field, `'${v}' is not an xs:boolean (true, false, 1 or 0)`);
  return undefined;
}

/** A non-negative integer (xs:int / xs:unsignedLong fields). */
function wholeNumber(issues: Issues, raw: string | undefined, field: string, required: boolean, negativeWhat?: string): number | undefined {
  const v = raw?.trim();
  if (v === undefined) {
    if (required) issues.add(field, 'missing');
    return undefined;
  }
  if (!/^[+-]?\d+$/.test(v)) {
    issues.add(field, v === '' ? 'empty: expected a whole number' : `'${v}' is not a whole number`);
    return undefined;
  }
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    issues.add(field, `${v} is out of range`);
    return undefined;
  }
  if (n < 0) {
    issues.add(field, `${v} is negative${negativeWhat ? ` (${negativeWhat})` : ''}`);
    return undefined;
  }
  return n;
}

/** A finite decimal (xs:double / xs:float / xs:decimal fields; NaN and INF make no sense for any of ours). */
function decimalNumber(issues: Issues, raw: string | undefined, field: string, required: boolean, range: { min?: number; max?: number }): number | undefined {
  const v = raw?.trim();
  if (v === undefined) {
    if (required) issues.add(field, 'missing');
    return undefined;
  }
  if (!/^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(v)) {
    issues.add(field, v === '' ? 'empty: expected a number' : `'${v}' is not a number`);
    return undefined;
  }
  const n = Number(v);
  if (!Number.isFinite(n)) {
    issues.add(field, `${v} is out of range`);
    return undefined;
  }
  if (range.min !== undefined && n < range.min) {
    issues.add(field, n < 0 && range.min === 0 ? `${v} is negative` : `${v} is below ${range.min}`);
    return undefined;
  }
  if (range.max !== undefined && n > range.max) {
    issues.add(field, `${v} is above ${range.max}`);
    return undefined;
  }
  return n;
}

/** 99.9 → 0.999 exactly (not 0.9990000000000001): targets are compared, so binary noise would matter. */
function percentToFraction(pct: number): number {
  return round12(pct / 100);
}

function round12(x: number): number {
  return Number(x.toPrecision(12));
}
