/**
 * The namespace URIs of the OPTIMIS manifest (interfaces.md §1.1), shared by the manifest reader and the offer writer.
 * Only URIs live here: prefixes are chosen by each document and must never be matched literally (OPTIMIS defect D7).
 */

/** Core manifest (optimis.xsd). */
export const OPT_NS = 'http://schemas.optimis.eu/optimis/';
/** Infrastructure-provider extensions (optimis-ip.xsd): where the allocation offer is written. */
export const OPT_IP_NS = 'http://schemas.optimis.eu/optimis/infrastructure';
/**
 * eac's own capability requirements (docs/capabilities.md): `eac:Requires`, `eac:Forbids`, `eac:SameValue` inside a
 * component's `ovf:VirtualHardwareSection`, after its `ovf:Item`s — the place where OVF's schema accepts elements of
 * other namespaces (`xs:any namespace="##other" processContents="lax"`), so a manifest carrying them stays valid.
 */
export const EAC_CAPABILITIES_NS = 'urn:eac:capabilities';
/** OVF 1.1 envelope. */
export const OVF_NS = 'http://schemas.dmtf.org/ovf/envelope/1';
/** CIM resource allocation setting data (the `rasd:` fields of an `ovf:Item`). */
export const RASD_NS = 'http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData';
