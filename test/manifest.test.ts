/**
 * Manifest reading and allocation-offer writing (formats/optimis-manifest): sample manifests, namespace independence, precise
 * errors, and offers that validate against the OPTIMIS XSDs (libxml2, test/support/xsd.ts) and give back their exact VM counts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AdmissionError } from '../model/errors';
import { OPT_IP_NS, OPT_NS } from '../formats/optimis-manifest/namespaces';
import { readAllocationOffer, writeAllocationOffer, type AllocationOfferInput } from '../formats/optimis-manifest/offer';
import { parseManifest, type ParsedComponent, type ParsedManifest } from '../formats/optimis-manifest/parse';
import { childElements, descendants, firstChild, parseXml, textOf } from '../xml/safe-xml';
import { expectXsdValid, xsd } from './support/xsd';

const FIXTURES = path.join(__dirname, 'fixtures', 'manifests');
const read = (rel: string): string => fs.readFileSync(path.join(FIXTURES, rel), 'utf8');

function errorOf(fn: () => unknown): AdmissionError {
  try {
    fn();
  } catch (error) {
    if (error instanceof AdmissionError) return error;
    throw error;
  }
  throw new Error('expected an AdmissionError, but nothing was thrown');
}

/** Replaces the first occurrence of `from`, failing when it is absent (so an edited fixture cannot silently no-op). */
function edit(xml: string, from: string, to: string): string {
  const i = xml.indexOf(from);
  if (i < 0) throw new Error(`fixture edit: '${from}' not found`);
  return xml.slice(0, i) + to + xml.slice(i + from.length);
}

const lineOf = (xml: string, needle: string): number => xml.slice(0, xml.indexOf(needle)).split('\n').length;

function comp(
  id: string,
  virtualSystemId: string,
  vcpus: number,
  memoryMb: number,
  basic: number,
  maxVms: number,
  lowerBound: number,
  availability: number,
  affinity: 0 | 1 | 2 = 0,
  antiAffinity: 0 | 1 | 2 = 0,
): ParsedComponent {
  return { id, virtualSystemId, vcpus, memoryMb, basic, maxVms, lowerBound, availability, affinity, antiAffinity };
}

// =============================================================================================
// Reading the sample manifests

interface Expected {
  file: string;
  serviceId: string;
  federationAllowed: boolean;
  components: ParsedComponent[];
  rules: ParsedManifest['rules'];
  availability: number;
  trec: ParsedManifest['trecConstraints'];
  plan: { currency: string; planFloor: number; planCap: number };
}

const jbossApp = (avLow: number): ParsedComponent[] => [
  comp('jboss', 'system-jboss', 5, 1024, 3, 17, 1, 0.99),
  comp('mysql', 'system-mysql', 1, 512, 1, 1, 1, 0.99),
  comp('VPN', 'system-VPN', 2, 2048, 1, 1, 1, avLow),
  comp('LB', 'system-LB', 1, 2048, 1, 1, 1, avLow),
];
const jbossRules: ParsedManifest['rules'] = [
  { kind: 'affinity', level: 2, members: ['mysql', 'LB'] },
  { kind: 'antiAffinity', level: 2, members: ['mysql', 'LB'] },
];
const smallComp = (id: string, av: number): ParsedComponent => comp(id, `system-${id}`, 1, 1024, 1, 1, 1, av);

const SAMPLES: Expected[] = [
  {
    // vCPUs come from VirtualQuantity (1), not ElementName ("10 virtual CPU"); P1D 99 and P1M 100: the strictest is 100.
    file: 'decision/SM_1c2.xml',
    serviceId: 'ACTestsDecisionAccepted',
    federationAllowed: false,
    components: [comp('compA', 'system-compA', 1, 528, 1, 1, 4, 1), comp('compB', 'system-compB', 1, 1024, 1, 1, 1, 1)],
    rules: [],
    availability: 1,
    trec: { trust: 5, risk: 1, cost: 1000 },
    plan: { currency: 'USD', planFloor: 5, planCap: 100 },
  },
  {
    file: 'decision/BigSM_1c2.xml',
    serviceId: 'ACTestsDecisionRejected',
    federationAllowed: false,
    components: [comp('compA', 'system-compA', 10, 528, 500, 1000, 4, 1), comp('compB', 'system-compB', 1, 1024, 500, 1000, 1, 1)],
    rules: [],
    availability: 1,
    trec: { trust: 5, risk: 1, cost: 1000 },
    plan: { currency: 'USD', planFloor: 5, planCap: 100 },
  },
  {
    // ElementName says "2 virtual CPU", VirtualQuantity says 1.
    file: 'decision/PartialSM_1c2.xml',
    serviceId: 'ACTestsDecisionPartial',
    federationAllowed: false,
    components: [comp('compA', 'system-compA', 1, 528, 1, 1, 4, 1), comp('compB', 'system-compB', 1, 1024, 100, 100, 1, 1)],
    rules: [],
    availability: 1,
    trec: { trust: 5, risk: 1, cost: 1000 },
    plan: { currency: 'USD', planFloor: 5, planCap: 100 },
  },
  {
    file: 'availability/SM_1c1.xml',
    serviceId: 'ACTestsAvailability_c1',
    federationAllowed: false,
    components: [comp('compA', 'system-compA', 10, 528, 1, 1, 4, 0.99)],
    rules: [{ kind: 'antiAffinity', level: 2, members: ['compA'] }],
    availability: 0.99,
    trec: { trust: 5, risk: 1, cost: 1000 },
    plan: { currency: 'USD', planFloor: 5, planCap: 100 },
  },
  {
    // compA: P1D 99 and P1M 90 → the strictest, 0.99; compB: P1M 80.
    file: 'availability/SM_1c2.xml',
    serviceId: 'ACTestsAvailability_c2',
    federationAllowed: false,
    components: [comp('compA', 'system-compA', 10, 528, 1, 2, 4, 0.99), smallComp('compB', 0.8)],
    rules: [],
    availability: 0.99,
    trec: { trust: 5, risk: 1, cost: 1000 },
    plan: { currency: 'USD', planFloor: 5, planCap: 100 },
  },
  {
    file: 'availability/SM_1c3.xml',
    serviceId: 'ACTestsAvailability_c3',
    federationAllowed: false,
    components: [comp('compA', 'system-compA', 10, 528, 1, 2, 4, 0.99), smallComp('compB', 0.8), smallComp('compC', 0.7)],
    rules: [],
    availability: 0.99,
    trec: { trust: 5, risk: 1, cost: 1000 },
    plan: { currency: 'USD', planFloor: 5, planCap: 100 },
  },
  {
    file: 'availability/SM_1c4.xml',
    serviceId: 'ACTestsAvailability_c4',
    federationAllowed: false,
    components: [
      comp('compA', 'system-compA', 10, 528, 1, 2, 4, 0.99),
      smallComp('compB', 0.8),
      smallComp('compC', 0.7),
      smallComp('compD', 0.6),
    ],
    rules: [],
    availability: 0.99,
    trec: { trust: 5, risk: 1, cost: 1000 },
    plan: { currency: 'USD', planFloor: 5, planCap: 100 },
  },
  {
    file: 'availability/SM_1c5.xml',
    serviceId: 'ACTestsAvailability_c5',
    federationAllowed: false,
    components: [
      comp('compA', 'system-compA', 10, 528, 1, 2, 4, 0.99),
      smallComp('compB', 0.8),
      smallComp('compC', 0.7),
      smallComp('compD', 0.6),
      smallComp('compE', 0.5),
    ],
    rules: [],
    availability: 0.99,
    trec: { trust: 5, risk: 1, cost: 1000 },
    plan: { currency: 'USD', planFloor: 5, planCap: 100 },
  },
  {
    // Only the first VirtualMachineDescription's components: the IP extensions' incarnated copies are not components.
    file: 'other/IP-ManifestExample.xml',
    serviceId: 'DemoApp',
    federationAllowed: false,
    components: jbossApp(0.8),
    rules: jbossRules,
    availability: 0.99,
    trec: { trust: 5, risk: 1, cost: 998 },
    plan: { currency: 'EUR', planFloor: 0, planCap: 99.8 },
  },
  {
    file: 'other/SP-ManifestExample.xml',
    serviceId: 'DemoApp',
    federationAllowed: false,
    components: jbossApp(0.8),
    rules: jbossRules,
    availability: 0.99,
    trec: { trust: 5, risk: 1, cost: 998 },
    plan: { currency: 'EUR', planFloor: 0, planCap: 99.8 },
  },
  {
    file: 'other/sla-mock-request.xml',
    serviceId: 'OptimisDemoService',
    federationAllowed: false,
    components: jbossApp(0.99),
    rules: jbossRules,
    availability: 0.99,
    trec: { trust: 5, risk: 1, cost: 998 },
    plan: { currency: 'EUR', planFloor: 0, planCap: 99.8 },
  },
  {
    file: 'other/sla-mock-response.xml',
    serviceId: 'OptimisDemoService',
    federationAllowed: false,
    components: jbossApp(0.99),
    rules: jbossRules,
    availability: 0.99,
    trec: { trust: 5, risk: 1, cost: 998 },
    plan: { currency: 'EUR', planFloor: 0, planCap: 99.8 },
  },
  {
    // Empty AvailabilityArray → 1.0; anti-affinity Medium on both components and on the rule.
    file: 'other/OptimisGen_1.xml',
    serviceId: 'optimisGen',
    federationAllowed: false,
    components: [
      comp('optimis-pm-GeneDetection', 'system-optimis-pm-GeneDetection', 2, 1024, 1, 1, 1, 1, 0, 1),
      comp('optimis-pm-autoMethod0', 'system-optimis-pm-autoMethod0', 3, 1536, 1, 1, 1, 1, 0, 1),
    ],
    rules: [{ kind: 'antiAffinity', level: 1, members: ['optimis-pm-GeneDetection', 'optimis-pm-autoMethod0'] }],
    availability: 1,
    trec: { trust: 1, risk: 1, cost: 200 },
    plan: { currency: 'EUR', planFloor: 0, planCap: 20 },
  },
  {
    file: 'other/manifestSPECWeb2005.xml',
    serviceId: 'serviceIdentifierString',
    federationAllowed: false,
    components: [
      comp('besim', 'system-besim', 2, 2048, 1, 1, 1, 1, 1, 0),
      comp('webserver', 'system-webserver', 4, 8192, 1, 1, 1, 1, 1, 0),
    ],
    rules: [{ kind: 'antiAffinity', level: 2, members: ['besim'] }],
    availability: 1,
    trec: { risk: 7, cost: 0 }, // MinimumTrustLevel 0 states no bound
    plan: { currency: 'EUR', planFloor: 0, planCap: 0 },
  },
  {
    file: 'examples/minimal-input.xml',
    serviceId: 'demo-svc',
    federationAllowed: true,
    components: [comp('web', 'system-web', 2, 1024, 1, 3, 1, 0.99, 0, 1), comp('db', 'system-db', 1, 2048, 1, 1, 1, 0.99, 2, 0)],
    rules: [],
    availability: 0.99,
    trec: { trust: 3, risk: 2, cost: 1000 },
    plan: { currency: 'EUR', planFloor: 5, planCap: 100 },
  },
  {
    file: 'examples/federation-input.xml',
    serviceId: 'demo-svc',
    federationAllowed: true,
    components: [comp('web', 'system-web', 2, 1024, 1, 3, 1, 0.99, 0, 1), comp('db', 'system-db', 1, 2048, 1, 1, 1, 0.99, 2, 0)],
    rules: [{ kind: 'antiAffinity', level: 2, members: ['web', 'db'] }],
    availability: 0.99,
    trec: { trust: 3, risk: 2, cost: 1000 },
    plan: { currency: 'EUR', planFloor: 5, planCap: 100 },
  },
];

describe('parseManifest on the sample manifests', () => {
  it.each(SAMPLES)('$file', (e) => {
    const m = parseManifest(read(e.file));
    expect(m.manifestId).toBe(e.file.startsWith('examples/') ? 'DemoSLA:1' : 'OPTIMIS_VM:1');
    expect(m.serviceProviderId).toBe(e.file.startsWith('examples/') ? 'DemoSP' : 'OPTIMUMWEB');
    expect(m.serviceId).toBe(e.serviceId);
    expect(m.federationAllowed).toBe(e.federationAllowed);
    expect(m.components).toEqual(e.components);
    expect(m.rules).toEqual(e.rules);
    expect(m.availability).toBe(e.availability);
    expect(m.trecConstraints).toEqual(e.trec);
    expect(m.trecConstraints.eco).toBeUndefined();
    expect(m.pricePlan).toMatchObject(e.plan);
  });

  it('turns the price plan into the OPTIMIS <pricePlan> fragment for opt-ip:Cost', () => {
    const m = parseManifest(read('decision/SM_1c2.xml'));
    expect(m.pricePlan?.xml).toBe(
      '<pricePlan><currency>USD</currency><planCap>100</planCap><planFloor>5</planFloor><name>ACTestsDecisionAccepted</name></pricePlan>',
    );
  });

  it('carries price components into the fragment, escaped', async () => {
    const xml = edit(
      read('examples/minimal-input.xml'),
      '<opt:PricePlan opt:currency="EUR" opt:planFloor="5.0" opt:planCap="100.0"/>',
      '<opt:PricePlan opt:currency="EUR" opt:planFloor="5.0" opt:planCap="100.0"><opt:PriceComponent opt:componentCap="4" opt:componentFloor="1">' +
        '<opt:Name>web &amp; db</opt:Name><opt:PriceLevel><opt:PriceType>USAGE</opt:PriceType><opt:Name>VM_Costs</opt:Name>' +
        '<opt:AbsoluteAmount>4.5</opt:AbsoluteAmount><opt:Multiplier>Hr</opt:Multiplier></opt:PriceLevel></opt:PriceComponent></opt:PricePlan>',
    );
    await expectXsdValid(xml);
    expect(parseManifest(xml).pricePlan?.xml).toBe(
      '<pricePlan><currency>EUR</currency><planCap>100</planCap><planFloor>5</planFloor><name>demo-svc</name>' +
        '<priceComponent><name>web &amp; db</name><componentCap>4</componentCap><componentFloor>1</componentFloor>' +
        '<priceLevel><priceType>USAGE</priceType><name>VM_Costs</name><absoluteAmount>4.5</absoluteAmount><multiplier>Hr</multiplier></priceLevel>' +
        '</priceComponent></pricePlan>',
    );
  });

  it('refuses a document that is not a service manifest (the bare price plan file)', () => {
    const e = errorOf(() => parseManifest(read('other/cost-priceplan.xml')));
    expect(e.code).toBe('AC_ERR_INVALID_MANIFEST');
    expect(e.details[0]!.field).toBe('ServiceManifest');
  });
});

describe('namespace awareness (OPTIMIS defect D7)', () => {
  const original = read('decision/SM_1c2.xml');

  it.each(['variants/SM_1c2-default-namespace.xml', 'variants/SM_1c2-swapped-prefixes.xml'])(
    '%s is a valid manifest and parses exactly like the original',
    async (file) => {
      const variant = read(file);
      await expectXsdValid(variant); // the variant is a legitimate manifest, not a broken one that happens to parse
      expect(variant).not.toContain('<opt:VirtualMachineComponent');
      expect(parseManifest(variant)).toEqual(parseManifest(original));
    },
  );

  it('resolves a prefix re-bound in a nested scope', () => {
    const doc = parseXml('<a:r xmlns:a="urn:one" xmlns="urn:d"><a:x xmlns:a="urn:two"><y/><a:z xmlns=""/></a:x><a:x/></a:r>');
    const [inner, outer] = childElements(doc.root);
    expect(doc.root.ns).toBe('urn:one');
    expect(inner!.ns).toBe('urn:two');
    expect(outer!.ns).toBe('urn:one');
    expect(childElements(inner!).map((e) => [e.ns, e.local])).toEqual([
      ['urn:d', 'y'],
      ['urn:two', 'z'],
    ]);
    expect(descendants(doc.root, 'urn:two', 'z')[0]!.scope.get('')).toBe('');
  });

  it('reports an unbound prefix as malformed, with its line', () => {
    const e = errorOf(() => parseXml('<r>\n  <p:x/>\n</r>'));
    expect(e.code).toBe('AC_ERR_MALFORMED_XML');
    expect(e.details[0]!.field).toMatch(/^line 2, column 3$/);
    expect(e.message).toContain("prefix 'p'");
  });
});

// =============================================================================================
// Errors

describe('parseManifest errors', () => {
  const base = read('examples/minimal-input.xml');

  it('sanity: the base fixture parses', () => {
    expect(parseManifest(base).components.map((c) => c.id)).toEqual(['web', 'db']);
  });

  it('malformed XML → AC_ERR_MALFORMED_XML with line and column', () => {
    const bad = edit(base, '</opt:AllocationConstraints>', '</opt:AllocationConstraint>');
    const e = errorOf(() => parseManifest(bad));
    expect(e.code).toBe('AC_ERR_MALFORMED_XML');
    const line = lineOf(bad, '</opt:AllocationConstraint>');
    expect(e.details[0]!.field).toMatch(new RegExp(`^line ${line}, column \\d+$`));
    expect(e.message).toContain(`line ${line}`);
  });

  it('references to undeclared entities are malformed (there is no DTD to declare them)', () => {
    const bad = edit(base, 'web tier', 'web&nbsp;tier');
    const e = errorOf(() => parseManifest(bad));
    expect(e.code).toBe('AC_ERR_MALFORMED_XML');
    expect(e.details[0]!.field).toBe(`line ${lineOf(bad, '&nbsp;')}, column ${bad.split('\n')[lineOf(bad, '&nbsp;') - 1]!.indexOf('&') + 1}`);
    expect(e.details[0]!.reason).toContain('&nbsp;');
  });

  it('a second root element is malformed', () => {
    const e = errorOf(() => parseManifest(`${base}\n<opt:ServiceManifest xmlns:opt="${OPT_NS}"/>`));
    expect(e.code).toBe('AC_ERR_MALFORMED_XML');
    expect(e.details[0]!.reason).toMatch(/root element/);
  });

  it('DOCTYPE → AC_ERR_FORBIDDEN_XML naming it', () => {
    const bad = edit(base, '<opt:ServiceManifest', '<!DOCTYPE opt:ServiceManifest SYSTEM "http://attacker.example/x.dtd">\n<opt:ServiceManifest');
    const e = errorOf(() => parseManifest(bad));
    expect(e.code).toBe('AC_ERR_FORBIDDEN_XML');
    expect(e.details.map((d) => d.field)).toEqual(['DOCTYPE']);
    expect(e.message).toContain('DOCTYPE');
  });

  it('entity declarations → AC_ERR_FORBIDDEN_XML naming each entity (billion laughs)', () => {
    const bad = edit(
      base,
      '<opt:ServiceManifest',
      '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;"><!ENTITY % pe SYSTEM "file:///etc/passwd">]>\n<opt:ServiceManifest',
    ).replace('opt:serviceId="demo-svc"', 'opt:serviceId="&lol2;"');
    const e = errorOf(() => parseManifest(bad));
    expect(e.code).toBe('AC_ERR_FORBIDDEN_XML');
    expect(e.details.map((d) => d.field)).toEqual(['DOCTYPE', 'ENTITY lol', 'ENTITY lol2', 'ENTITY %pe']);
  });

  it('an entity declaration outside a DOCTYPE is refused too', () => {
    const e = errorOf(() => parseManifest(edit(base, '<opt:ServiceManifest', '<!ENTITY x "y">\n<opt:ServiceManifest')));
    expect(e.code).toBe('AC_ERR_FORBIDDEN_XML');
    expect(e.details[0]!.field).toBe('ENTITY x');
  });

  it('"<!DOCTYPE" inside a comment or CDATA is text, not a declaration', () => {
    const ok = edit(base, '<ovf:Info>web tier</ovf:Info>', '<!-- <!DOCTYPE x> --><ovf:Info><![CDATA[<!DOCTYPE y [<!ENTITY z "z">]>]]></ovf:Info>');
    expect(parseManifest(ok).components[0]!.id).toBe('web');
  });

  const invalid = (xml: string): AdmissionError => {
    const e = errorOf(() => parseManifest(xml));
    expect(e.code).toBe('AC_ERR_INVALID_MANIFEST');
    expect(e.status).toBe(422);
    return e;
  };

  it('any truncation of a manifest is an XML error, never a crash', () => {
    const codes = new Set<string>();
    for (let cut = 0; cut < base.length - 1; cut += 37) codes.add(errorOf(() => parseManifest(base.slice(0, cut))).code);
    expect([...codes].sort()).toEqual(['AC_ERR_MALFORMED_XML']);
  });

  it('missing Initial', () => {
    const e = invalid(edit(base, '<opt:Initial>1</opt:Initial>', ''));
    expect(e.details).toEqual([{ field: 'VirtualMachineComponent[web]/AllocationConstraints/Initial', reason: 'missing' }]);
  });

  it('missing UpperBound', () => {
    const e = invalid(edit(base, '<opt:UpperBound>3</opt:UpperBound>', ''));
    expect(e.details).toEqual([{ field: 'VirtualMachineComponent[web]/AllocationConstraints/UpperBound', reason: 'missing' }]);
  });

  it('UpperBound < Initial, saying both values', () => {
    const e = invalid(edit(base, '<opt:UpperBound>3</opt:UpperBound>\n        <opt:Initial>1</opt:Initial>', '<opt:UpperBound>3</opt:UpperBound><opt:Initial>5</opt:Initial>'));
    expect(e.details).toHaveLength(1);
    expect(e.details[0]!.field).toBe('VirtualMachineComponent[web]/AllocationConstraints/UpperBound');
    expect(e.details[0]!.reason).toMatch(/UpperBound 3 is below Initial 5/);
  });

  it('non-numeric and negative bounds', () => {
    const e = invalid(edit(edit(base, '<opt:UpperBound>3</opt:UpperBound>', '<opt:UpperBound>three</opt:UpperBound>'), '<opt:Initial>1</opt:Initial>', '<opt:Initial>-1</opt:Initial>'));
    expect(e.details).toEqual([
      { field: 'VirtualMachineComponent[web]/AllocationConstraints/UpperBound', reason: "'three' is not a whole number" },
      { field: 'VirtualMachineComponent[web]/AllocationConstraints/Initial', reason: '-1 is negative' },
    ]);
  });

  it('negative CPUs', () => {
    const e = invalid(edit(base, '<rasd:VirtualQuantity>2</rasd:VirtualQuantity>', '<rasd:VirtualQuantity>-2</rasd:VirtualQuantity>'));
    expect(e.details).toEqual([
      {
        field: 'VirtualMachineComponent[web]/OVFDefinition/VirtualSystem/VirtualHardwareSection/Item[ResourceType=3]/VirtualQuantity',
        reason: '-2 is negative (negative CPUs)',
      },
    ]);
  });

  it('vCPUs 0', () => {
    const e = invalid(edit(base, '<rasd:VirtualQuantity>2</rasd:VirtualQuantity>', '<rasd:VirtualQuantity>0</rasd:VirtualQuantity>'));
    expect(e.details[0]!.reason).toMatch(/^vCPUs 0/);
  });

  it('missing CPU item', () => {
    const e = invalid(edit(base, '<rasd:ResourceType>3</rasd:ResourceType>', '<rasd:ResourceType>5</rasd:ResourceType>'));
    expect(e.details[0]!.field).toBe('VirtualMachineComponent[web]/OVFDefinition/VirtualSystem/VirtualHardwareSection/Item[ResourceType=3]');
  });

  it('a CPU item without Description still counts (OPTIMIS crashed on it)', () => {
    const m = parseManifest(edit(base, '<rasd:Description>Number of virtual CPUs</rasd:Description>', ''));
    expect(m.components[0]!.vcpus).toBe(2);
  });

  it('unknown component id in a rule scope', () => {
    const e = invalid(edit(base, '<opt:AffinityRule>\n        <opt:Scope><opt:ComponentId>web</opt:ComponentId>', '<opt:AffinityRule>\n        <opt:Scope><opt:ComponentId>ghost</opt:ComponentId>'));
    expect(e.details).toHaveLength(1);
    expect(e.details[0]!.field).toBe('AffinitySection/AffinityRule[1]/Scope/ComponentId[1]');
    expect(e.details[0]!.reason).toContain("'ghost'");
  });

  it('unknown component id in a TREC scope', () => {
    const e = invalid(edit(base, '<opt:RiskSection>\n      <opt:Scope><opt:ComponentId>web</opt:ComponentId>', '<opt:RiskSection>\n      <opt:Scope><opt:ComponentId>wbe</opt:ComponentId>'));
    expect(e.details[0]!.field).toBe('TRECSection/RiskSection[1]/Scope/ComponentId[1]');
  });

  it('unknown level word', () => {
    const e = invalid(edit(base, '<opt:AntiAffinityConstraints>Medium</opt:AntiAffinityConstraints>', '<opt:AntiAffinityConstraints>Very High</opt:AntiAffinityConstraints>'));
    expect(e.details).toEqual([
      { field: 'VirtualMachineComponent[web]/AntiAffinityConstraints', reason: "unknown level 'Very High' (expected Low, Medium or High)" },
    ]);
  });

  it('duplicate component ids', () => {
    const e = invalid(edit(base, 'opt:componentId="db"', 'opt:componentId="web"'));
    expect(e.details[0]).toEqual({ field: 'VirtualMachineComponent[2]/@componentId', reason: "duplicate component id 'web'" });
    // The scopes still naming 'db' are reported too: every problem in one answer.
    expect(e.details.slice(1).every((d) => d.reason.startsWith("unknown component id 'db'"))).toBe(true);
    expect(e.message).toMatch(/and 5 more problems/);
  });

  it('missing componentId, serviceId and an invalid isFederationAllowed, all reported at once', () => {
    const bad = edit(edit(edit(base, ' opt:componentId="web"', ''), ' opt:serviceId="demo-svc"', ''), 'opt:isFederationAllowed="true"', 'opt:isFederationAllowed="yes"');
    const fields = invalid(bad.replace(/<opt:ComponentId>web<\/opt:ComponentId>/g, '')).details.map((d) => d.field);
    expect(fields).toEqual(
      expect.arrayContaining(['VirtualMachineDescription/@serviceId', 'VirtualMachineDescription/@isFederationAllowed', 'VirtualMachineComponent[1]/@componentId']),
    );
  });

  it('an unqualified attribute is not the qualified one, and the error says so', () => {
    const e = invalid(edit(base, 'opt:componentId="db"', 'componentId="db"'));
    expect(e.details[0]!.field).toBe('VirtualMachineComponent[2]/@componentId');
    expect(e.details[0]!.reason).toMatch(/unqualified 'componentId'.*opt:componentId/);
  });

  it('missing VirtualMachineDescription', () => {
    const start = base.indexOf('<opt:VirtualMachineDescription');
    const end = base.indexOf('</opt:VirtualMachineDescription>') + '</opt:VirtualMachineDescription>'.length;
    const e = invalid(base.slice(0, start) + base.slice(end));
    expect(e.details[0]!.field).toBe('VirtualMachineDescription');
  });

  it('several VirtualMachineDescriptions: the schema allows one, and we say so', () => {
    const start = base.indexOf('<opt:VirtualMachineDescription');
    const end = base.indexOf('</opt:VirtualMachineDescription>') + '</opt:VirtualMachineDescription>'.length;
    const e = invalid(base.slice(0, end) + base.slice(start, end) + base.slice(end));
    expect(e.details[0]!.field).toBe('VirtualMachineDescription[2]');
    expect(e.details[0]!.reason).toMatch(/exactly one/);
  });

  it('a manifest without TRECSection is fine: default availability, no bounds, no price plan', () => {
    const start = base.indexOf('<opt:TRECSection>');
    const end = base.indexOf('</opt:TRECSection>') + '</opt:TRECSection>'.length;
    const m = parseManifest(base.slice(0, start) + base.slice(end));
    expect(m.components.map((c) => c.availability)).toEqual([1, 1]);
    expect(m.availability).toBe(1);
    expect(m.trecConstraints).toEqual({});
    expect(m.pricePlan).toBeUndefined();
  });

  it('availability 99.9 is 0.999 (not truncated), and the strictest entry wins whatever its interval', () => {
    expect(parseManifest(edit(base, '>99.0<', '>99.9<')).components[0]!.availability).toBe(0.999);
    const two = edit(
      base,
      '<opt:Availability opt:assessmentInterval="P1M">99.0</opt:Availability>',
      '<opt:Availability opt:assessmentInterval="P1M">99.0</opt:Availability><opt:Availability opt:assessmentInterval="P1D">99.95</opt:Availability>',
    );
    expect(parseManifest(two).components.map((c) => c.availability)).toEqual([0.9995, 0.9995]);
  });

  it('availability outside [0, 100] is refused', () => {
    const e = invalid(edit(base, '>99.0<', '>199<'));
    expect(e.details[0]!.field).toBe('TRECSection/RiskSection[1]/AvailabilityArray/Availability[1]');
  });

  it('planCap below planFloor is refused', () => {
    const e = invalid(edit(base, 'opt:planCap="100.0"', 'opt:planCap="1"'));
    expect(e.details[0]).toEqual({ field: 'TRECSection/CostSection[1]/PricePlan[1]/@planCap', reason: 'planCap 1 is below planFloor 5' });
  });
});

// =============================================================================================
// Writing and reading the allocation offer

/** Namespace-aware look at a written document: the IP extensions and the offer(s) under the root. */
function offersOf(xml: string) {
  const root = parseXml(xml).root;
  const extensions = childElements(root, OPT_IP_NS, 'InfrastructureProviderExtensions');
  const offers = extensions.flatMap((e) => childElements(e, OPT_IP_NS, 'AllocationOffer'));
  return { root, extensions, offers };
}

/** What readAllocationOffer must give back: components with at least one local VM, zero-VM hosts dropped. */
function expectedPlacements(offer: AllocationOfferInput) {
  return offer.components
    .map((c) => ({ componentId: c.componentId, placements: c.placements.filter((h) => h.basicVms + h.elasticVms > 0) }))
    .filter((c) => c.placements.length > 0);
}

describe('writeAllocationOffer / readAllocationOffer', () => {
  it('accepted, decision/SM_1c2: validates, IP extensions appended as last child, rest of the document untouched', async () => {
    const input = read('decision/SM_1c2.xml');
    const m = parseManifest(input);
    const offer: AllocationOfferInput = {
      decision: 'accepted',
      components: [
        { componentId: 'compA', placements: [{ hostId: 'optimis1', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
        { componentId: 'compB', placements: [{ hostId: 'optimis2', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
      ],
      costXml: m.pricePlan!.xml,
      risk: 0.001,
    };
    const out = writeAllocationOffer(input, offer);
    await expectXsdValid(out);

    const { root, extensions, offers } = offersOf(out);
    expect(extensions).toHaveLength(1);
    expect(childElements(root).at(-1)).toBe(extensions[0]);
    expect(offers).toHaveLength(1);
    expect(textOf(firstChild(offers[0]!, OPT_IP_NS, 'Decision')!)).toBe('accepted');
    expect(childElements(offers[0]!).map((e) => e.local)).toEqual(['AllocationPattern', 'AllocationPattern', 'Cost', 'Risk', 'Decision']);

    const endTag = input.lastIndexOf('</opt:ServiceManifest>');
    expect(out.startsWith(input.slice(0, endTag).trimEnd())).toBe(true);
    expect(out.endsWith(input.slice(endTag))).toBe(true);
    expect(parseManifest(out)).toEqual(m);

    expect(readAllocationOffer(out)).toEqual({ decision: 'accepted', components: expectedPlacements(offer), risk: 0.001, externalDeployments: [] });
  });

  it('accepted, availability/SM_1c2: two components on two hosts with basic and elastic VMs', async () => {
    const input = read('availability/SM_1c2.xml');
    const offer: AllocationOfferInput = {
      decision: 'accepted',
      components: [
        {
          componentId: 'compA',
          placements: [
            { hostId: 'optimis1', basicVms: 1, elasticVms: 0 },
            { hostId: 'optimis2', basicVms: 0, elasticVms: 1 },
          ],
          federatedVms: 0,
        },
        { componentId: 'compB', placements: [{ hostId: 'optimis2', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
      ],
      costXml: parseManifest(input).pricePlan!.xml,
      risk: 0.001,
    };
    const out = writeAllocationOffer(input, offer);
    await expectXsdValid(out);
    const pattern = childElements(offersOf(out).offers[0]!, OPT_IP_NS, 'AllocationPattern')[0]!;
    const hosts = childElements(pattern, OPT_IP_NS, 'PhysicalHost');
    expect(hosts.map((h) => [textOf(h), h.attributes.find((a) => a.local === 'elastic')?.value])).toEqual([
      ['optimis1', 'false'],
      ['optimis2', 'true'],
    ]);
    expect(readAllocationOffer(out)!.components).toEqual(expectedPlacements(offer));
  });

  it('several VMs per host: one PhysicalHost per VM, exact counts recovered, first host first (D10)', async () => {
    const input = read('other/SP-ManifestExample.xml');
    const offer: AllocationOfferInput = {
      decision: 'accepted',
      components: [
        {
          componentId: 'jboss',
          placements: [
            { hostId: 'host-a', basicVms: 3, elasticVms: 1 },
            { hostId: 'host-b', basicVms: 0, elasticVms: 2 },
            { hostId: 'host-c', basicVms: 0, elasticVms: 0 },
          ],
          federatedVms: 0,
        },
        { componentId: 'mysql', placements: [{ hostId: 'host-b', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
        { componentId: 'VPN', placements: [{ hostId: 'host-c', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
        { componentId: 'LB', placements: [{ hostId: 'host-b', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
      ],
      risk: 0.001,
    };
    const out = writeAllocationOffer(input, offer);
    await expectXsdValid(out);
    const jboss = childElements(offersOf(out).offers[0]!, OPT_IP_NS, 'AllocationPattern')[0]!;
    const hosts = childElements(jboss, OPT_IP_NS, 'PhysicalHost').map((h) => `${textOf(h)}:${h.attributes[0]!.value}`);
    expect(hosts).toEqual(['host-a:false', 'host-a:false', 'host-a:false', 'host-a:true', 'host-b:true', 'host-b:true']);
    expect(readAllocationOffer(out)).toEqual({ decision: 'accepted', components: expectedPlacements(offer), risk: 0.001, externalDeployments: [] });
  });

  it('rejected, decision/BigSM_1c2: decision only, validates', async () => {
    const input = read('decision/BigSM_1c2.xml');
    const out = writeAllocationOffer(input, {
      decision: 'rejected',
      components: [
        { componentId: 'compA', placements: [], federatedVms: 0 },
        { componentId: 'compB', placements: [], federatedVms: 0 },
      ],
    });
    await expectXsdValid(out);
    expect(childElements(offersOf(out).offers[0]!).map((e) => e.local)).toEqual(['Decision']);
    expect(readAllocationOffer(out)).toEqual({ decision: 'rejected', components: [], externalDeployments: [] });
  });

  it('partial, decision/PartialSM_1c2: a pattern for the local component only, validates', async () => {
    const input = read('decision/PartialSM_1c2.xml');
    const offer: AllocationOfferInput = {
      decision: 'partial',
      components: [
        { componentId: 'compA', placements: [{ hostId: 'optimis1', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
        { componentId: 'compB', placements: [], federatedVms: 100 },
      ],
      costXml: parseManifest(input).pricePlan!.xml,
      risk: 0.001,
    };
    const out = writeAllocationOffer(input, offer);
    await expectXsdValid(out);
    const read1 = readAllocationOffer(out)!;
    expect(read1.decision).toBe('partial');
    expect(read1.components).toEqual([{ componentId: 'compA', placements: [{ hostId: 'optimis1', basicVms: 1, elasticVms: 0 }] }]);
  });

  it('partial with an ExternalDeployment: embeds the peer manifest, reads it back standalone; XSD key/keyref clash (D8)', async () => {
    const peerOffer: AllocationOfferInput = {
      decision: 'accepted',
      components: [{ componentId: 'web', placements: [{ hostId: 'peer-host-1', basicVms: 1, elasticVms: 1 }], federatedVms: 0 }],
      risk: 0.001,
    };
    const peerAnswer = writeAllocationOffer(read('examples/minimal-input.xml'), peerOffer);
    const local = read('examples/federation-input.xml');
    const out = writeAllocationOffer(local, {
      decision: 'partial',
      components: [
        { componentId: 'db', placements: [{ hostId: 'optimis1', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
        { componentId: 'web', placements: [], federatedVms: 2 },
      ],
      costXml: parseManifest(local).pricePlan!.xml,
      risk: 0.001,
      externalDeployments: [{ providerId: 'peer "IP" & co', manifestXml: peerAnswer }],
    });

    expect(childElements(offersOf(out).offers[0]!).map((e) => e.local)).toEqual(['AllocationPattern', 'Cost', 'Risk', 'ExternalDeployment', 'Decision']);
    const back = readAllocationOffer(out)!;
    expect(back.decision).toBe('partial');
    expect(back.components).toEqual([{ componentId: 'db', placements: [{ hostId: 'optimis1', basicVms: 1, elasticVms: 0 }] }]);
    expect(back.externalDeployments).toHaveLength(1);
    expect(back.externalDeployments[0]!.providerId).toBe('peer "IP" & co');
    const peer = readAllocationOffer(back.externalDeployments[0]!.manifestXml)!;
    expect(peer.decision).toBe('accepted');
    expect(peer.components).toEqual(expectedPlacements(peerOffer));
    expect(parseManifest(back.externalDeployments[0]!.manifestXml).serviceId).toBe('demo-svc');

    // Known schema limitation (interfaces.md §1.7): the outer key/keyref reach into the embedded manifest.
    const r = await xsd(out);
    expect(r.valid).toBe(false);
    const errors = r.output.split('\n').filter((l) => /validity error/.test(l));
    expect(errors.length).toBeGreaterThan(0);
    for (const line of errors) expect(line).toMatch(/vmComponentKey/);
  });

  it('an existing AllocationOffer (IP-ManifestExample) is replaced, not duplicated; everything else is kept', async () => {
    const input = read('other/IP-ManifestExample.xml');
    const before = readAllocationOffer(input)!;
    // The old OPTIMIS encoding reads as one VM per occurrence.
    expect(before).toEqual({
      decision: 'accepted',
      components: [
        {
          componentId: 'jboss',
          placements: [
            { hostId: 'my.jboss.hostname.first', basicVms: 1, elasticVms: 0 },
            { hostId: 'my.jboss.hostname.second', basicVms: 1, elasticVms: 0 },
            { hostId: 'my.jboss.hostname.third', basicVms: 1, elasticVms: 0 },
            { hostId: 'my.jboss.hostname.elastic', basicVms: 0, elasticVms: 1 },
          ],
        },
      ],
      risk: 12,
      externalDeployments: [],
    });

    const offer: AllocationOfferInput = {
      decision: 'accepted',
      components: [
        { componentId: 'jboss', placements: [{ hostId: 'node-7', basicVms: 3, elasticVms: 2 }], federatedVms: 0 },
        { componentId: 'mysql', placements: [{ hostId: 'node-8', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
      ],
      costXml: parseManifest(input).pricePlan!.xml,
      risk: 0.001,
    };
    const out = writeAllocationOffer(input, offer);
    await expectXsdValid(out);
    const { extensions, offers } = offersOf(out);
    expect(extensions).toHaveLength(1);
    expect(offers).toHaveLength(1);
    expect(childElements(extensions[0]!).map((e) => e.local)).toEqual(['IncarnatedServiceComponents', 'AllocationOffer']);
    expect(out).not.toContain('my.jboss.hostname');
    expect(readAllocationOffer(out)).toEqual({ decision: 'accepted', components: expectedPlacements(offer), risk: 0.001, externalDeployments: [] });

    const oldStart = input.indexOf('<opt-ip:AllocationOffer>');
    const oldEnd = input.indexOf('</opt-ip:AllocationOffer>') + '</opt-ip:AllocationOffer>'.length;
    expect(out.startsWith(input.slice(0, oldStart).trimEnd())).toBe(true);
    expect(out.endsWith(input.slice(oldEnd))).toBe(true);

    // Writing again replaces again.
    const again = writeAllocationOffer(out, { decision: 'rejected', components: [] });
    expect(offersOf(again).offers).toHaveLength(1);
    expect(readAllocationOffer(again)!.decision).toBe('rejected');
    await expectXsdValid(again);
  });

  it('puts the offer after IncarnatedServiceComponents when the extensions exist without an offer (OptimisGen_1)', async () => {
    const out = writeAllocationOffer(read('other/OptimisGen_1.xml'), {
      decision: 'accepted',
      components: [
        { componentId: 'optimis-pm-GeneDetection', placements: [{ hostId: 'h1', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
        { componentId: 'optimis-pm-autoMethod0', placements: [{ hostId: 'h2', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
      ],
    });
    await expectXsdValid(out);
    expect(childElements(offersOf(out).extensions[0]!).map((e) => e.local)).toEqual(['IncarnatedServiceComponents', 'AllocationOffer']);
  });

  it('fills an empty self-closing InfrastructureProviderExtensions', async () => {
    const input = edit(read('decision/SM_1c2.xml'), '</opt:ServiceManifest>', '  <opt-ip:InfrastructureProviderExtensions/>\n</opt:ServiceManifest>');
    const out = writeAllocationOffer(input, { decision: 'rejected', components: [] });
    await expectXsdValid(out);
    expect(offersOf(out).extensions).toHaveLength(1);
    expect(readAllocationOffer(out)!.decision).toBe('rejected');
  });

  it('fills a nil InfrastructureProviderExtensions, dropping xsi:nil', async () => {
    const input = edit(
      read('decision/SM_1c2.xml'),
      '</opt:ServiceManifest>',
      '  <opt-ip:InfrastructureProviderExtensions xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true" />\n</opt:ServiceManifest>',
    );
    const out = writeAllocationOffer(input, { decision: 'rejected', components: [] });
    await expectXsdValid(input, out);
    expect(out).not.toContain('xsi:nil');
    expect(readAllocationOffer(out)!.decision).toBe('rejected');
  });

  it('writes into a default-namespace manifest with its own prefixes, keeping the Cost fragment unqualified', async () => {
    const input = read('variants/SM_1c2-default-namespace.xml');
    const offer: AllocationOfferInput = {
      decision: 'accepted',
      components: [
        { componentId: 'compA', placements: [{ hostId: 'optimis1', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
        { componentId: 'compB', placements: [{ hostId: 'optimis1', basicVms: 1, elasticVms: 0 }], federatedVms: 0 },
      ],
      costXml: parseManifest(input).pricePlan!.xml,
      risk: 0.001,
    };
    const out = writeAllocationOffer(input, offer);
    await expectXsdValid(out);
    expect(out).toContain('<ip:InfrastructureProviderExtensions>'); // reuses the document's own prefix
    const cost = firstChild(offersOf(out).offers[0]!, OPT_IP_NS, 'Cost')!;
    expect(childElements(cost).map((e) => [e.ns, e.local])).toEqual([['', 'pricePlan']]);
    expect(readAllocationOffer(out)!.components).toEqual(expectedPlacements(offer));
  });

  it('escapes ids: component and host ids with markup characters round-trip exactly', async () => {
    const weird = 'w&b<1>"x\'';
    const input = read('examples/minimal-input.xml').replace(/opt:componentId="web"/, 'opt:componentId="w&amp;b&lt;1&gt;&quot;x\'"').replace(/<opt:ComponentId>web<\/opt:ComponentId>/g, '<opt:ComponentId>w&amp;b&lt;1>"x\'</opt:ComponentId>');
    expect(parseManifest(input).components[0]!.id).toBe(weird);
    const offer: AllocationOfferInput = {
      decision: 'accepted',
      components: [{ componentId: weird, placements: [{ hostId: 'rack "A" <1> & co\'s', basicVms: 1, elasticVms: 1 }], federatedVms: 0 }],
    };
    const out = writeAllocationOffer(input, offer);
    await expectXsdValid(out);
    expect(readAllocationOffer(out)!.components).toEqual(expectedPlacements(offer));
  });

  it('every offer written back re-parses with parseXml, whatever the manifest, its encoding marks and the ids', () => {
    // Characters that survive into output must be writable: parseXml refuses manifests with any other (strict-xml.test.ts),
    // and what the offer writer adds around them must keep the document well-formed.
    const hostId = 'rack "A" <1> & co\'s\t\u00e9\ud83d\ude00\r\n]]>';
    const files = ['decision/SM_1c2.xml', 'availability/SM_1c5.xml', 'examples/minimal-input.xml', 'examples/minimal-output-accepted.xml', 'other/IP-ManifestExample.xml', 'other/OptimisGen_1.xml', 'other/sla-mock-response.xml', 'variants/SM_1c2-default-namespace.xml', 'variants/SM_1c2-swapped-prefixes.xml'];
    for (const file of files) {
      for (const input of [read(file), '\uFEFF' + read(file).replace(/\n/g, '\r\n')]) {
        const ids = parseManifest(input).components.map((c) => c.id);
        for (const decision of ['accepted', 'partial', 'rejected'] as const) {
          const offer: AllocationOfferInput = {
            decision,
            components: decision === 'rejected' ? [] : ids.map((componentId) => ({ componentId, placements: [{ hostId, basicVms: 2, elasticVms: 1 }], federatedVms: 0 })),
            costXml: parseManifest(input).pricePlan?.xml,
            risk: 0.25,
          };
          const out = writeAllocationOffer(input, offer);
          expect(() => parseXml(out)).not.toThrow();
          expect(parseManifest(out).components.map((c) => c.id)).toEqual(ids);
          expect(readAllocationOffer(out)!.components).toEqual(expectedPlacements(offer));
        }
      }
    }
  });

  it('refuses an inconsistent offer (AC_ERR_INTERNAL, naming the field)', () => {
    const input = read('decision/SM_1c2.xml');
    const e1 = errorOf(() =>
      writeAllocationOffer(input, { decision: 'accepted', components: [{ componentId: 'compA', placements: [{ hostId: 'h', basicVms: -1, elasticVms: 0 }], federatedVms: 0 }] }),
    );
    expect(e1.code).toBe('AC_ERR_INTERNAL');
    expect(e1.details[0]!.field).toBe('components[0].placements[0].basicVms');
    const e2 = errorOf(() =>
      writeAllocationOffer(input, { decision: 'accepted', components: [{ componentId: 'nope', placements: [{ hostId: 'h', basicVms: 1, elasticVms: 0 }], federatedVms: 0 }] }),
    );
    expect(e2.details[0]!.field).toBe('components[0].componentId');
    const e3 = errorOf(() =>
      writeAllocationOffer(input, { decision: 'rejected', components: [{ componentId: 'compA', placements: [{ hostId: 'h', basicVms: 1, elasticVms: 0 }], federatedVms: 0 }] }),
    );
    expect(e3.details[0]!.reason).toMatch(/rejected/);
  });

  it('refuses unsafe or broken fragments to embed', () => {
    const input = read('decision/SM_1c2.xml');
    const e1 = errorOf(() => writeAllocationOffer(input, { decision: 'rejected', components: [], costXml: '<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>' }));
    expect(e1.code).toBe('AC_ERR_FORBIDDEN_XML');
    expect(e1.message).toContain('costXml');
    const e2 = errorOf(() => writeAllocationOffer(input, { decision: 'rejected', components: [], costXml: '</fragment><evil/><fragment>' }));
    expect(e2.code).toBe('AC_ERR_MALFORMED_XML');
    const e3 = errorOf(() =>
      writeAllocationOffer(input, { decision: 'partial', components: [], externalDeployments: [{ providerId: 'p', manifestXml: '<pricePlan/>' }] }),
    );
    expect(e3.code).toBe('AC_ERR_INVALID_MANIFEST');
  });

  it('keeps CRLF line ends and a BOM of the input', () => {
    const input = '\uFEFF' + read('examples/minimal-input.xml').replace(/\n/g, '\r\n');
    const out = writeAllocationOffer(input, { decision: 'rejected', components: [] });
    expect(out.charCodeAt(0)).toBe(0xfeff);
    expect(out).not.toMatch(/[^\r]\n/);
    expect(out.startsWith(input.slice(0, input.indexOf('</opt:ServiceManifest>')).trimEnd())).toBe(true);
    expect(readAllocationOffer(out)!.decision).toBe('rejected');
  });

  it('an offer without Decision cannot be read as an answer', () => {
    const out = writeAllocationOffer(read('decision/SM_1c2.xml'), { decision: 'rejected', components: [] }).replace(/<opt-ip:Decision>rejected<\/opt-ip:Decision>/, '');
    const e = errorOf(() => readAllocationOffer(out));
    expect(e.code).toBe('AC_ERR_INVALID_MANIFEST');
    expect(e.details[0]!.field).toBe('InfrastructureProviderExtensions/AllocationOffer/Decision');
  });

  it('reads the SLA manager mock response (old encoding) and returns undefined when there is no offer', () => {
    expect(readAllocationOffer(read('other/sla-mock-response.xml'))).toEqual({
      decision: 'accepted',
      components: [
        {
          componentId: 'jboss',
          placements: [
            { hostId: 'my.jboss.hostname.first', basicVms: 1, elasticVms: 0 },
            { hostId: 'my.jboss.hostname.second', basicVms: 1, elasticVms: 0 },
            { hostId: 'my.jboss.hostname.third', basicVms: 1, elasticVms: 0 },
          ],
        },
      ],
      risk: 12,
      externalDeployments: [],
    });
    expect(readAllocationOffer(read('decision/SM_1c2.xml'))).toBeUndefined();
  });
});
