/** Generated OPTIMIS manifests for tests: one service with many small components (bounded-work and scaling tests). */

export interface ManyComponentOptions {
  readonly serviceId?: string;
  readonly components: number;
  readonly vcpus?: number;
  readonly memoryMb?: number;
  readonly initial?: number;
  readonly upperBound?: number;
  readonly federationAllowed?: boolean;
  readonly antiAffinity?: 'Low' | 'Medium' | 'High';
}

function component(id: string, o: ManyComponentOptions): string {
  return `<opt:VirtualMachineComponent opt:componentId="${id}"><opt:OVFDefinition><ovf:References><ovf:File ovf:id="${id}-img" ovf:href="${id}.qcow2"/></ovf:References><ovf:VirtualSystem ovf:id="system-${id}"><ovf:Info>${id}</ovf:Info><ovf:VirtualHardwareSection><ovf:Info>hw</ovf:Info><ovf:Item><rasd:ElementName>cpu</rasd:ElementName><rasd:InstanceID>1</rasd:InstanceID><rasd:ResourceType>3</rasd:ResourceType><rasd:VirtualQuantity>${o.vcpus ?? 1}</rasd:VirtualQuantity></ovf:Item><ovf:Item><rasd:AllocationUnits>MegaBytes</rasd:AllocationUnits><rasd:ElementName>mem</rasd:ElementName><rasd:InstanceID>2</rasd:InstanceID><rasd:ResourceType>4</rasd:ResourceType><rasd:VirtualQuantity>${o.memoryMb ?? 256}</rasd:VirtualQuantity></ovf:Item></ovf:VirtualHardwareSection></ovf:VirtualSystem></opt:OVFDefinition><opt:AllocationConstraints><opt:LowerBound>1</opt:LowerBound><opt:UpperBound>${o.upperBound ?? 2}</opt:UpperBound><opt:Initial>${o.initial ?? 1}</opt:Initial></opt:AllocationConstraints><opt:AffinityConstraints>Low</opt:AffinityConstraints><opt:AntiAffinityConstraints>${o.antiAffinity ?? 'Low'}</opt:AntiAffinityConstraints></opt:VirtualMachineComponent>`;
}

/** A well-formed manifest with `components` components c1…cN (1 vCPU, 256 MB, 1 to 2 VMs by default). */
export function manyComponentManifest(o: ManyComponentOptions): string {
  const parts: string[] = [];
  for (let i = 1; i <= o.components; i++) parts.push(component(`c${i}`, o));
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<opt:ServiceManifest xmlns:opt="http://schemas.optimis.eu/optimis/" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" opt:manifestId="Gen:${o.components}" opt:serviceProviderId="GenSP">` +
    `<opt:VirtualMachineDescription opt:serviceId="${o.serviceId ?? `gen-${o.components}`}" opt:isFederationAllowed="${o.federationAllowed ?? true}">${parts.join('')}</opt:VirtualMachineDescription>` +
    `</opt:ServiceManifest>\n`
  );
}
