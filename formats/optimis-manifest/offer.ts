/**
 * Writes the admission answer into a manifest as OPTIMIS does (opt-ip:AllocationOffer, interfaces.md §1.6) and reads it back.
 * Splices text at positions from the namespace-aware parse, so the rest of the document stays byte-for-byte as it was.
 */
import { LRUCache } from 'lru-cache';
import { AdmissionError, type ErrorDetail } from '../../model/errors';
import { applyEdits, replaceText, type Edit } from '../../xml/xml-edit';
import { OPT_IP_NS, OPT_NS } from './namespaces';
import {
  attribute,
  childElements,
  elementExtent,
  escapeAttribute,
  escapeText,
  firstChild,
  isXmlChars,
  parseXml,
  textOf,
  type XmlDocument,
  type XmlElement,
} from '../../xml/safe-xml';

/*
 * VM counts (fixes OPTIMIS defect D10). AllocationPatternType allows nothing but PhysicalHost+ (xs:string with one
 * xs:boolean attribute `elastic`) and the component id: no count attribute, no extension point (the ##other wildcard of
 * InfrastructureProviderExtensions is strict, so a foreign element needs a schema the SLA manager does not have), and a
 * count inside the host text would break the CO, which uses the text as the host id. The only valid lossless encoding
 * is therefore ONE PhysicalHost PER VM: a host with 3 basic VMs and 1 elastic VM appears
 * 3 times with elastic="false" then once with elastic="true". Hosts keep the solver's order, so PhysicalHost[0] is
 * still the first host for the Cloud Optimizer, and the count of a host is the number of its occurrences.
 * (Old OPTIMIS offers, one occurrence per host and kind, read back as 1 VM each: a lower bound, the best they allow.)
 *
 * Federated VMs have no place in AllocationPattern; they are represented by the ExternalDeployment manifests (the
 * peer's own offer, in this same encoding). Embedding a whole opt:ServiceManifest there is what the schema asks for,
 * but its key/keyref (`.//opt:VirtualMachineComponent`, `.//opt:Scope/opt:ComponentId`) then reaches into the embedded
 * manifest: libxml2 rejects the document when the embedded manifest has any Scope (keyref: "more than one match") or
 * shares a component id with the outer one (key: "duplicate key-sequence"). Defect D8, interfaces.md §1.7; left to the
 * federation code, which decides what the embedded manifest contains.
 */

export type OfferDecision = 'accepted' | 'partial' | 'rejected';

export interface HostVms {
  readonly hostId: string;
  readonly basicVms: number;
  readonly elasticVms: number;
}

export interface AllocationOfferInput {
  readonly decision: OfferDecision;
  readonly components: readonly {
    readonly componentId: string;
    /** Local VMs per host, in the order the hosts should be listed (the first one is the CO's target). */
    readonly placements: readonly HostVms[];
    /** Not written locally (no place in the schema): carried by the matching ExternalDeployment. Validated only. */
    readonly federatedVms: number;
  }[];
  /** Fragment for opt-ip:Cost (xs:anyType), e.g. ParsedPricePlan.xml. Must be well-formed and namespace-complete. */
  readonly costXml?: string;
  /** opt-ip:Risk (xs:float). */
  readonly risk?: number;
  /** Peer answers: each manifestXml is a whole opt:ServiceManifest document, embedded as the element itself. */
  readonly externalDeployments?: readonly { readonly providerId: string; readonly manifestXml: string }[];
}

export interface AllocationOfferReading {
  readonly decision: OfferDecision;
  readonly components: readonly { readonly componentId: string; readonly placements: readonly HostVms[] }[];
  readonly risk?: number;
  /** providerId is undefined for OPTIMIS offers (its manifest API never wrote it, D8). manifestXml is standalone. */
  readonly externalDeployments: readonly { readonly providerId: string | undefined; readonly manifestXml: string }[];
}

const DECISIONS: readonly OfferDecision[] = ['accepted', 'partial', 'rejected'];
const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';

// ---------------------------------------------------------------------------------------------
// Writing

/**
 * Returns `xml` with its allocation offer replaced by `offer`: any existing opt-ip:AllocationOffer of the manifest is
 * removed, opt-ip:InfrastructureProviderExtensions is created as the root's last child if missing, and the new offer
 * is placed where the schema wants it (after IncarnatedServiceComponents, before foreign extensions).
 */
export function writeAllocationOffer(xml: string, offer: AllocationOfferInput, parsed?: XmlDocument): string {
  // `parsed` (from parseManifestDocument on the same string) saves parsing again: it is most of an admission's XML cost.
  const doc = parsed ?? parseXml(xml);
  const root = requireManifestRoot(doc, 'manifest');
  checkOffer(offer, declaredComponentIds(root));
  const costXml = offer.costXml === undefined ? undefined : checkedFragment(offer.costXml);
  const externals = (offer.externalDeployments ?? []).map((e, i) => ({
    providerId: e.providerId,
    xml: embeddableManifest(e.manifestXml, `externalDeployments[${i}].manifestXml`),
  }));

  const extensions = childElements(root, OPT_IP_NS, 'InfrastructureProviderExtensions');
  const oldOffers = extensions.flatMap((ext) => childElements(ext, OPT_IP_NS, 'AllocationOffer').map((o) => ({ ext, o })));
  const target = oldOffers[0]?.ext ?? extensions[0];
  const src = doc.source;
  const unit = indentUnit(doc);
  const edits: Edit[] = [];

  // Every old offer goes, together with the whitespace that introduced it (so no blank lines are left behind).
  for (const { o } of oldOffers) {
    const ext = elementExtent(doc, o);
    edits.push({ from: whitespaceStart(src, ext.start), to: ext.end, text: '' });
  }

  if (target) {
    const naming = offerNaming(target.scope);
    const indent = lineIndent(src, target.start) + unit;
    const body = '\n' + indent + buildOffer(naming, indent, unit, offer, costXml, externals);
    const t = elementExtent(doc, target);
    const nil = target.attributes.find((a) => a.ns === XSI_NS && a.local === 'nil' && ['true', '1'].includes(a.value.trim()));
    if (nil) {
      // A nil element must stay empty: drop xsi:nil="true" before giving the extensions content.
      const m = new RegExp(`\\s+${escapeRegExp(nil.qname)}\\s*=\\s*(?:"[^"]*"|'[^']*')`).exec(src.slice(t.start, t.startTagEnd));
      if (m) edits.push({ from: t.start + m.index, to: t.start + m.index + m[0].length, text: '' });
    }
    if (oldOffers.length > 0 && oldOffers[0]!.ext === target) {
      edits.push({ from: whitespaceStart(src, oldOffers[0]!.o.start), to: whitespaceStart(src, oldOffers[0]!.o.start), text: body });
    } else if (t.selfClosing) {
      const slash = src.lastIndexOf('/', t.startTagEnd - 1);
      const close = '\n' + lineIndent(src, target.start) + `</${target.qname}>`;
      edits.push({ from: slash, to: t.startTagEnd, text: '>' + body + close });
    } else {
      const incarnated = childElements(target, OPT_IP_NS).filter((c) => c.local.startsWith('Incarnated'));
      const after = incarnated.length > 0 ? elementExtent(doc, incarnated[incarnated.length - 1]!).end : t.startTagEnd;
      edits.push({ from: after, to: after, text: body });
    }
  } else {
    // No extensions yet: a new last child of the root, declaring the IP namespace itself if nothing in scope binds it.
    const r = elementExtent(doc, root);
    const extIndent = lineIndent(src, root.start) + unit;
    const bound = boundPrefix(root.scope, OPT_IP_NS);
    const p = bound ?? freshPrefix(root.scope);
    const decl = bound ? '' : ` xmlns:${p}="${escapeAttribute(OPT_IP_NS)}"`;
    const scopeAfter = new Map(root.scope);
    scopeAfter.set(p, OPT_IP_NS);
    const naming = offerNaming(scopeAfter);
    const offerIndent = extIndent + unit;
    const text =
      '\n' + extIndent + `<${p}:InfrastructureProviderExtensions${decl}>` +
      '\n' + offerIndent + buildOffer(naming, offerIndent, unit, offer, costXml, externals) +
      '\n' + extIndent + `</${p}:InfrastructureProviderExtensions>`;
    const at = whitespaceStart(src, r.endTagStart);
    edits.push({ from: at, to: at, text: at === r.endTagStart ? text + '\n' : text });
  }

  return restoreSurface(xml, applyEdits(src, edits));
}

/** Positions refer to the normalised source (no BOM, \n line ends); give the output the input's BOM and CRLF back. */
function restoreSurface(input: string, out: string): string {
  const crlf = input.includes('\r\n') && !/(^|[^\r])\n/.test(input);
  const withEnds = crlf ? out.replace(/\n/g, '\r\n') : out;
  return input.charCodeAt(0) === 0xfeff ? '\uFEFF' + withEnds : withEnds;
}


interface OfferNaming {
  /** Prefix bound to the IP namespace inside the new offer. */
  readonly p: string;
  /** Declarations to put on the AllocationOffer start tag. */
  readonly decls: string;
}

/**
 * Uses a prefix already bound to the IP namespace where the offer goes, or declares one on the offer. If a default
 * namespace is in scope, the offer undeclares it (xmlns=""), so that the unqualified <pricePlan> of Cost stays unqualified.
 */
function offerNaming(scope: ReadonlyMap<string, string>): OfferNaming {
  const bound = boundPrefix(scope, OPT_IP_NS);
  const p = bound ?? freshPrefix(scope);
  let decls = bound ? '' : ` xmlns:${p}="${escapeAttribute(OPT_IP_NS)}"`;
  if (scope.get('')) decls += ' xmlns=""';
  return { p, decls };
}

/** A non-empty prefix bound to `ns` in `scope` (preferring the customary one), or undefined. */
function boundPrefix(scope: ReadonlyMap<string, string>, ns: string): string | undefined {
  if (scope.get('opt-ip') === ns) return 'opt-ip';
  for (const [prefix, uri] of scope) if (prefix && uri === ns) return prefix;
  return undefined;
}

function freshPrefix(scope: ReadonlyMap<string, string>): string {
  if (!scope.has('opt-ip')) return 'opt-ip';
  for (let i = 1; ; i++) if (!scope.has(`opt-ip${i}`)) return `opt-ip${i}`;
}

function buildOffer(
  { p, decls }: OfferNaming,
  indent: string,
  unit: string,
  offer: AllocationOfferInput,
  costXml: string | undefined,
  externals: readonly { providerId: string; xml: string }[],
): string {
  const line = (depth: number, s: string): string => '\n' + indent + unit.repeat(depth) + s;
  let out = `<${p}:AllocationOffer${decls}>`;
  for (const c of offer.components) {
    if (!c.placements.some((h) => h.basicVms + h.elasticVms > 0)) continue; // patterns only for locally placed components
    out += line(1, `<${p}:AllocationPattern ${p}:componentId="${escapeAttribute(c.componentId)}">`);
    for (const h of c.placements) {
      // One element per VM (file header): the count is the number of occurrences.
      const host = escapeText(h.hostId);
      for (let k = 0; k < h.basicVms; k++) out += line(2, `<${p}:PhysicalHost ${p}:elastic="false">${host}</${p}:PhysicalHost>`);
      for (let k = 0; k < h.elasticVms; k++) out += line(2, `<${p}:PhysicalHost ${p}:elastic="true">${host}</${p}:PhysicalHost>`);
    }
    out += line(1, `</${p}:AllocationPattern>`);
  }
  if (costXml !== undefined) out += line(1, `<${p}:Cost>${costXml}</${p}:Cost>`);
  if (offer.risk !== undefined) out += line(1, `<${p}:Risk>${String(offer.risk)}</${p}:Risk>`);
  for (const e of externals) {
    out += line(1, `<${p}:ExternalDeployment ${p}:providerId="${escapeAttribute(e.providerId)}">`);
    out += line(2, e.xml);
    out += line(1, `</${p}:ExternalDeployment>`);
  }
  out += line(1, `<${p}:Decision>${offer.decision}</${p}:Decision>`);
  out += line(0, `</${p}:AllocationOffer>`);
  return out;
}

/** Validates the offer against itself and the manifest; a bad offer is a bug of the caller, hence AC_ERR_INTERNAL. */
function checkOffer(offer: AllocationOfferInput, declared: ReadonlySet<string>): void {
  const problems: ErrorDetail[] = [];
  const bad = (field: string, reason: string): void => void problems.push({ field, reason });
  const count = (v: unknown, field: string): void => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(field, `must be a non-negative integer, got ${String(v)}`);
  };
  const id = (v: unknown, field: string): void => {
    if (typeof v !== 'string' || v.trim() === '' || v !== v.trim()) bad(field, 'must be a non-empty string without surrounding whitespace');
    else if (!isXmlChars(v)) bad(field, 'contains characters XML cannot represent');
  };

  if (!DECISIONS.includes(offer.decision)) bad('decision', `must be accepted, partial or rejected, got ${String(offer.decision)}`);
  const seen = new Set<string>();
  offer.components.forEach((c, i) => {
    const f = `components[${i}]`;
    id(c.componentId, `${f}.componentId`);
    if (seen.has(c.componentId)) bad(`${f}.componentId`, `component '${c.componentId}' is listed twice`);
    seen.add(c.componentId);
    count(c.federatedVms, `${f}.federatedVms`);
    const hosts = new Set<string>();
    let local = 0;
    c.placements.forEach((h, j) => {
      const g = `${f}.placements[${j}]`;
      id(h.hostId, `${g}.hostId`);
      if (hosts.has(h.hostId)) bad(`${g}.hostId`, `host '${h.hostId}' is listed twice for this component`);
      hosts.add(h.hostId);
      count(h.basicVms, `${g}.basicVms`);
      count(h.elasticVms, `${g}.elasticVms`);
      local += h.basicVms + h.elasticVms;
    });
    if (local > 0 && !declared.has(c.componentId)) {
      bad(`${f}.componentId`, `the manifest declares no component '${c.componentId}' (it has ${[...declared].join(', ')})`);
    }
    if (local > 0 && offer.decision === 'rejected') bad(`${f}.placements`, 'a rejected offer places no VM');
  });
  if (offer.risk !== undefined && (typeof offer.risk !== 'number' || !Number.isFinite(offer.risk))) {
    bad('risk', `must be a finite number, got ${String(offer.risk)}`);
  }
  (offer.externalDeployments ?? []).forEach((e, i) => id(e.providerId, `externalDeployments[${i}].providerId`));
  if (problems.length > 0) {
    throw new AdmissionError('AC_ERR_INTERNAL', `Invalid allocation offer: ${problems[0]!.field}: ${problems[0]!.reason}`, problems);
  }
}

/** Checked Cost fragments: a service's price plan comes back with every admission of it, and checking means parsing. */
const checkedFragments = new LRUCache<string, string>({ max: 64 });

/** The Cost fragment must parse on its own (safely): no DTD, well-formed, every prefix it uses declared inside it. */
function checkedFragment(fragment: string): string {
  let checked = checkedFragments.get(fragment);
  if (checked === undefined) {
    checked = checkFragment(fragment); // throws on a bad fragment: nothing is remembered then
    checkedFragments.set(fragment, checked);
  }
  return checked;
}

function checkFragment(fragment: string): string {
  // A leading XML declaration (cost.xml files have one) cannot live inside an element: drop it.
  const body = fragment.replace(/^\uFEFF?\s*<\?xml\s[^?]*\?>/, '');
  const doc = parseNamed(`<fragment>${body}</fragment>`, 'costXml');
  // The wrapper must still be one element holding the whole fragment (no '</fragment><x>' smuggling).
  if (elementExtent(doc, doc.root).end !== doc.source.length) {
    throw new AdmissionError('AC_ERR_INTERNAL', 'costXml is not a well-formed XML fragment', [{ field: 'costXml', reason: 'it closes its wrapper' }]);
  }
  return doc.source.slice(elementExtent(doc, doc.root).startTagEnd, elementExtent(doc, doc.root).endTagStart);
}

/** A peer manifest as an element to embed: parsed safely, checked to be a manifest, stripped of prolog and comments around it. */
function embeddableManifest(manifestXml: string, field: string): string {
  const doc = parseNamed(manifestXml, field);
  requireManifestRoot(doc, field);
  const r = elementExtent(doc, doc.root);
  return doc.source.slice(r.start, r.end);
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * OPTIMIS's partial → accepted rewrite (its SLA manager relies on it: ACModelApi turned `partial` into `accepted` in
 * every returned manifest with an AllocationPattern unless the request carried doNotBackupSMflag). Changes only the
 * offer's Decision element, and only when the offer is partial with at least one allocation pattern; everything else
 * stays byte for byte. The OPTIMIS surface applies it; the JSON API keeps the truthful decision.
 */
export function optimisAcceptedRewrite(xml: string): string {
  const doc = parseXml(xml);
  const root = requireManifestRoot(doc, 'manifest');
  const offer = childElements(root, OPT_IP_NS, 'InfrastructureProviderExtensions').flatMap((ext) => childElements(ext, OPT_IP_NS, 'AllocationOffer'))[0];
  const decision = offer ? firstChild(offer, OPT_IP_NS, 'Decision') : undefined;
  if (!offer || !decision || textOf(decision).trim() !== 'partial' || childElements(offer, OPT_IP_NS, 'AllocationPattern').length === 0) return xml;
  return applyEdits(doc.source, [replaceText(doc, decision, 'accepted')]);
}

/**
 * Reads the allocation offer of a manifest (ours or a peer's), or undefined when it has none. Counts are the number of
 * PhysicalHost occurrences per host and kind (see the file header); hosts are listed in order of first appearance.
 */
export function readAllocationOffer(xml: string): AllocationOfferReading | undefined {
  const doc = parseXml(xml);
  const root = requireManifestRoot(doc, 'manifest');
  const offers = childElements(root, OPT_IP_NS, 'InfrastructureProviderExtensions').flatMap((ext) =>
    childElements(ext, OPT_IP_NS, 'AllocationOffer'),
  );
  if (offers.length === 0) return undefined;
  const problems: ErrorDetail[] = [];
  const bad = (field: string, reason: string): void => void problems.push({ field, reason });
  if (offers.length > 1) bad('InfrastructureProviderExtensions/AllocationOffer[2]', `the manifest carries ${offers.length} allocation offers`);
  const offer = offers[0]!;
  const base = 'InfrastructureProviderExtensions/AllocationOffer';

  const decisionEl = firstChild(offer, OPT_IP_NS, 'Decision');
  const decisionText = decisionEl ? textOf(decisionEl).trim() : undefined;
  if (decisionText === undefined) bad(`${base}/Decision`, 'missing');
  else if (!(DECISIONS as readonly string[]).includes(decisionText)) bad(`${base}/Decision`, `'${decisionText}' is not accepted, partial or rejected`);

  const components: { componentId: string; placements: HostVms[] }[] = [];
  childElements(offer, OPT_IP_NS, 'AllocationPattern').forEach((pattern, i) => {
    const f = `${base}/AllocationPattern[${i + 1}]`;
    const componentId = attribute(pattern, OPT_IP_NS, 'componentId')?.trim() ?? '';
    if (!componentId) bad(`${f}/@componentId`, 'missing');
    if (components.some((c) => c.componentId === componentId)) bad(`${f}/@componentId`, `a second pattern for component '${componentId}'`);
    const byHost = new Map<string, { hostId: string; basicVms: number; elasticVms: number }>();
    childElements(pattern, OPT_IP_NS, 'PhysicalHost').forEach((h, j) => {
      const hostId = textOf(h).trim();
      if (!hostId) bad(`${f}/PhysicalHost[${j + 1}]`, 'empty host id');
      const elastic = attribute(h, OPT_IP_NS, 'elastic')?.trim() ?? 'false'; // schema default
      if (!['true', 'false', '1', '0'].includes(elastic)) bad(`${f}/PhysicalHost[${j + 1}]/@elastic`, `'${elastic}' is not an xs:boolean`);
      const entry = byHost.get(hostId) ?? { hostId, basicVms: 0, elasticVms: 0 };
      if (elastic === 'true' || elastic === '1') entry.elasticVms++;
      else entry.basicVms++;
      byHost.set(hostId, entry);
    });
    components.push({ componentId, placements: [...byHost.values()] });
  });

  let risk: number | undefined;
  const riskEl = firstChild(offer, OPT_IP_NS, 'Risk');
  if (riskEl) {
    const t = textOf(riskEl).trim();
    risk = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(t) ? Number(t) : undefined;
    if (risk === undefined) bad(`${base}/Risk`, `'${t}' is not a number`);
  }

  const externalDeployments = childElements(offer, OPT_IP_NS, 'ExternalDeployment').map((e, i) => {
    const manifest = firstChild(e, OPT_NS, 'ServiceManifest');
    if (!manifest) bad(`${base}/ExternalDeployment[${i + 1}]/ServiceManifest`, 'missing');
    return { providerId: attribute(e, OPT_IP_NS, 'providerId'), manifestXml: manifest ? standaloneElement(doc, manifest) : '' };
  });

  if (problems.length > 0) {
    throw new AdmissionError('AC_ERR_INVALID_MANIFEST', `Invalid allocation offer: ${problems[0]!.field}: ${problems[0]!.reason}`, problems);
  }
  return {
    decision: decisionText as OfferDecision,
    components,
    ...(risk !== undefined ? { risk } : {}),
    externalDeployments,
  };
}

/**
 * The element's text as a document of its own: the namespace bindings it inherits (and may use, in names or in
 * QName values such as xsi:type) are declared on its start tag.
 */
function standaloneElement(doc: XmlDocument, el: XmlElement): string {
  const ext = elementExtent(doc, el);
  let decls = '';
  for (const [prefix, uri] of el.scope) {
    if (prefix === 'xml' || el.declarations.has(prefix)) continue;
    if (prefix === '') {
      if (uri) decls += ` xmlns="${escapeAttribute(uri)}"`;
    } else decls += ` xmlns:${prefix}="${escapeAttribute(uri)}"`;
  }
  const nameEnd = el.start + 1 + el.qname.length;
  return doc.source.slice(el.start, nameEnd) + decls + doc.source.slice(nameEnd, ext.end);
}

// ---------------------------------------------------------------------------------------------
// Shared helpers

/** parseXml, with the errors saying which input they are about. */
function parseNamed(xml: string, field: string): XmlDocument {
  try {
    return parseXml(xml);
  } catch (error) {
    if (!(error instanceof AdmissionError)) throw error;
    throw new AdmissionError(
      error.code,
      `${field}: ${error.message}`,
      error.details.map((d) => ({ field: `${field}: ${d.field}`, reason: d.reason })),
    );
  }
}

function requireManifestRoot(doc: XmlDocument, field: string): XmlElement {
  const root = doc.root;
  if (root.ns !== OPT_NS || root.local !== 'ServiceManifest') {
    throw new AdmissionError('AC_ERR_INVALID_MANIFEST', `Not a service manifest: the root element is {${root.ns}}${root.local}`, [
      { field, reason: `expected {${OPT_NS}}ServiceManifest` },
    ]);
  }
  return root;
}

function declaredComponentIds(root: XmlElement): Set<string> {
  const vmd = firstChild(root, OPT_NS, 'VirtualMachineDescription');
  const ids = new Set<string>();
  for (const c of vmd ? childElements(vmd, OPT_NS, 'VirtualMachineComponent') : []) {
    const id = attribute(c, OPT_NS, 'componentId')?.trim();
    if (id) ids.add(id);
  }
  return ids;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Start of the run of whitespace that ends at `index`. */
function whitespaceStart(src: string, index: number): number {
  let i = index;
  while (i > 0 && /\s/.test(src[i - 1]!)) i--;
  return i;
}

/** The indentation of the line holding `index`, when only whitespace precedes it on that line. */
function lineIndent(src: string, index: number): string {
  const lineStart = src.lastIndexOf('\n', index - 1) + 1;
  const lead = src.slice(lineStart, index);
  return /^[ \t]*$/.test(lead) ? lead : '';
}

/** The document's own indentation step: that of the root's first child, else two spaces. */
function indentUnit(doc: XmlDocument): string {
  const first = childElements(doc.root)[0];
  const rootIndent = lineIndent(doc.source, doc.root.start);
  const childIndent = first ? lineIndent(doc.source, first.start) : '';
  const step = childIndent.startsWith(rootIndent) ? childIndent.slice(rootIndent.length) : '';
  return step || '  ';
}
