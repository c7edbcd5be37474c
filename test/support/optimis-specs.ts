/**
 * The manifests OPTIMIS's JUnit tests generate at run time, built from our specifications of them
 * (test/fixtures/optimis/generated/*.json, see docs/optimis-tests.md §3.2): components, bounds, affinities, rules, TREC.
 */
import fs from 'node:fs';
import path from 'node:path';

const GENERATED = path.join(__dirname, '..', 'fixtures', 'optimis', 'generated');

interface ComponentSpec {
  readonly componentId: string;
  readonly vcpus: number;
  readonly memoryMb: number;
  readonly lowerBound: number;
  readonly upperBound: number;
  readonly initial: number;
  readonly affinityConstraints: string;
  readonly antiAffinityConstraints: string;
}
interface RuleSpec {
  readonly components: readonly string[];
  readonly level: string;
}
export interface ManifestSpec {
  readonly manifestId: string;
  readonly serviceProviderId: string;
  readonly serviceId: string;
  readonly isFederationAllowed: boolean;
  readonly components: readonly ComponentSpec[];
  readonly affinityRules?: readonly RuleSpec[];
  readonly antiAffinityRules?: readonly RuleSpec[];
  readonly trustSections?: readonly { scope: readonly string[]; minimumTrustLevel: number }[];
  readonly riskSections?: readonly { scope: readonly string[]; riskLevel: number; availability?: readonly (readonly [string, number])[] }[];
  readonly costSections?: readonly { scope: readonly string[]; pricePlan: { currency: string; planCap: number; planFloor: number } }[];
}

export function spec(name: string): ManifestSpec {
  return (JSON.parse(fs.readFileSync(path.join(GENERATED, `${name}.json`), 'utf8')) as { manifest: ManifestSpec }).manifest;
}

const scope = (ids: readonly string[]): string => `<opt:Scope>${ids.map((id) => `<opt:ComponentId>${id}</opt:ComponentId>`).join('')}</opt:Scope>`;

function component(c: ComponentSpec): string {
  return (
    `<opt:VirtualMachineComponent opt:componentId="${c.componentId}"><opt:OVFDefinition><ovf:References><ovf:File ovf:id="${c.componentId}-img" ovf:href=""/></ovf:References>` +
    `<ovf:VirtualSystem ovf:id="system-${c.componentId}"><ovf:Info>${c.componentId}</ovf:Info><ovf:VirtualHardwareSection><ovf:Info>hw</ovf:Info>` +
    `<ovf:Item><rasd:Description>Number of virtual CPUs</rasd:Description><rasd:ElementName>${c.vcpus} virtual CPU</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>${c.vcpus}</rasd:VirtualQuantity></ovf:Item>` +
    `<ovf:Item><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits><rasd:Description>Memory Size</rasd:Description><rasd:ElementName>${c.memoryMb} MB</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>${c.memoryMb}</rasd:VirtualQuantity></ovf:Item>` +
    `</ovf:VirtualHardwareSection></ovf:VirtualSystem></opt:OVFDefinition>` +
    `<opt:AllocationConstraints><opt:LowerBound>${c.lowerBound}</opt:LowerBound><opt:UpperBound>${c.upperBound}</opt:UpperBound><opt:Initial>${c.initial}</opt:Initial></opt:AllocationConstraints>` +
    `<opt:AffinityConstraints>${c.affinityConstraints}</opt:AffinityConstraints><opt:AntiAffinityConstraints>${c.antiAffinityConstraints}</opt:AntiAffinityConstraints></opt:VirtualMachineComponent>`
  );
}

/** The manifest a spec describes, as OPTIMIS's ServiceManifest API would have written its essentials. */
export function manifestOf(s: ManifestSpec): string {
  const rules = (kind: 'Affinity' | 'AntiAffinity', list: readonly RuleSpec[] | undefined): string =>
    list && list.length > 0 ? `<opt:${kind}Section>${list.map((r) => `<opt:${kind}Rule>${scope(r.components)}<opt:${kind}Constraints>${r.level}</opt:${kind}Constraints></opt:${kind}Rule>`).join('')}</opt:${kind}Section>` : '';
  const trust = (s.trustSections ?? []).map((t) => `<opt:TrustSection>${scope(t.scope)}<opt:MinimumTrustLevel>${t.minimumTrustLevel}</opt:MinimumTrustLevel></opt:TrustSection>`).join('');
  const risk = (s.riskSections ?? [])
    .map(
      (r) =>
        `<opt:RiskSection>${scope(r.scope)}<opt:RiskLevel>${r.riskLevel}</opt:RiskLevel>` +
        (r.availability && r.availability.length > 0
          ? `<opt:AvailabilityArray>${r.availability.map(([interval, pct]) => `<opt:Availability opt:assessmentInterval="${interval}">${pct.toFixed(1)}</opt:Availability>`).join('')}</opt:AvailabilityArray>`
          : '') +
        `</opt:RiskSection>`,
    )
    .join('');
  const cost = (s.costSections ?? [])
    .map((c) => `<opt:CostSection>${scope(c.scope)}<opt:PricePlan opt:currency="${c.pricePlan.currency}" opt:planCap="${c.pricePlan.planCap.toFixed(1)}" opt:planFloor="${c.pricePlan.planFloor.toFixed(1)}"></opt:PricePlan></opt:CostSection>`)
    .join('');
  return (
    `<opt:ServiceManifest opt:manifestId="${s.manifestId}" opt:serviceProviderId="${s.serviceProviderId}" xmlns:opt="http://schemas.optimis.eu/optimis/" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">` +
    `<opt:VirtualMachineDescription opt:serviceId="${s.serviceId}" opt:isFederationAllowed="${s.isFederationAllowed}">${s.components.map(component).join('')}${rules('Affinity', s.affinityRules)}${rules('AntiAffinity', s.antiAffinityRules)}</opt:VirtualMachineDescription>` +
    `<opt:TRECSection>${trust}${risk}${cost}</opt:TRECSection></opt:ServiceManifest>`
  );
}
