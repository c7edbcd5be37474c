/**
 * A stateful OpenNebula XML-RPC server on 127.0.0.1 (an ephemeral port) for deployment tests: hosts whose HOST_SHARE
 * counts the VMs deployed on them, VM templates, VMs with STATE / LCM_STATE / HISTORY, and oned's answers — its
 * `[false, message, code]` errors with the real codes (0x0100 AUTHENTICATION, 0x0400 NO_EXISTS, 0x0800 ACTION, 0x4000
 * ALLOCATE) and messages shaped like oned's. Faults can be injected per method; calls are recorded.
 */
import { parseXml, firstChild, childElements } from '../../xml/safe-xml';
import { rpcValue, type RpcValue } from '../../xml/xml-rpc';
import { startStub, type StubServer } from './stubs';

export const AUTHENTICATION = 0x0100;
export const NO_EXISTS = 0x0400;
export const ACTION = 0x0800;
export const ALLOCATE = 0x4000;

export interface StubHost {
  readonly id: number;
  readonly name: string;
  /** CPUs (OpenNebula counts hundredths) and MB of memory. */
  readonly cpus: number;
  readonly memoryMb: number;
  /** Used by VMs this stub does not know about (other tenants). */
  readonly foreignCpus?: number;
  readonly foreignMemoryMb?: number;
}

export interface StubTemplate {
  readonly id: number;
  readonly name: string;
  /** TEMPLATE attributes (CPU, MEMORY, EAC_COMPONENT…). */
  readonly attributes: Readonly<Record<string, string>>;
}

export interface StubVm {
  readonly id: number;
  name: string;
  templateId: number;
  /** 1 PENDING, 2 HOLD, 3 ACTIVE, 6 DONE. */
  state: number;
  /** 3 RUNNING, 36 BOOT_FAILURE… (while ACTIVE). */
  lcmState: number;
  hostId?: number;
  /** The guest ignores the ACPI shutdown: a graceful `terminate` leaves it ACTIVE/SHUTDOWN (oned gives up later). */
  ignoresAcpi?: boolean;
  readonly template: Record<string, string>;
  readonly userTemplate: Record<string, string>;
}

export interface Fault {
  readonly message: string;
  readonly code: number;
}

export interface StubCall {
  readonly method: string;
  readonly params: readonly RpcValue[];
}

type Step = { kind: 'fail'; fault: Fault } | { kind: 'hang'; afterEffect: boolean };

export class OpenNebulaStub {
  readonly hosts: StubHost[];
  readonly templates: StubTemplate[];
  readonly vms = new Map<number, StubVm>();
  readonly calls: StubCall[] = [];
  session = 'oneadmin:opennebula';
  private nextVmId = 100;
  /** Per method: what its n-th next call does (shifted off as calls arrive; undefined = normal). */
  private readonly plans = new Map<string, (Step | undefined)[]>();
  private readonly hung: (() => void)[] = [];

  private constructor(
    readonly server: StubServer,
    hosts: StubHost[],
    templates: StubTemplate[],
  ) {
    this.hosts = hosts;
    this.templates = templates;
  }

  static async start(hosts: StubHost[], templates: StubTemplate[]): Promise<OpenNebulaStub> {
    let stub: OpenNebulaStub | undefined;
    const server = await startStub((req, res) => stub!.handle(String(req.body), (xml) => res.type('text/xml').send(xml), (release) => stub!.hung.push(release)));
    stub = new OpenNebulaStub(server, hosts.map((h) => ({ ...h })), templates.map((t) => ({ ...t, attributes: { ...t.attributes } })));
    return stub;
  }

  get url(): string {
    return `${this.server.url}/RPC2`;
  }

  /** The call after `skip` normal calls of `method` fails with the fault (oned's answer: [false, message, code]). */
  failOn(method: string, fault: Fault, skip = 0): void {
    this.plan(method, skip, { kind: 'fail', fault });
  }

  /**
   * The call after `skip` normal calls of `method` never answers; with `afterEffect` it takes effect first (a VM is
   * created but its id never reaches the caller: a crash right after oned's commit).
   */
  hangOn(method: string, afterEffect: boolean, skip = 0): void {
    this.plan(method, skip, { kind: 'hang', afterEffect });
  }

  private plan(method: string, skip: number, step: Step): void {
    const list = this.plans.get(method) ?? [];
    while (list.length < skip) list.push(undefined);
    list[skip] = step;
    this.plans.set(method, list);
  }

  /** The VMs that are not DONE. */
  live(): StubVm[] {
    return [...this.vms.values()].filter((v) => v.state !== 6);
  }

  callsOf(method: string): StubCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** The VM fails in OpenNebula (ACTIVE / BOOT_FAILURE by default), keeping its host. */
  failVm(id: number, lcmState = 36): void {
    const vm = this.vms.get(id)!;
    vm.state = 3;
    vm.lcmState = lcmState;
  }

  /** An operator deletes the VM behind eac's back (onevm terminate --hard). */
  deleteVm(id: number): void {
    this.vms.get(id)!.state = 6;
  }

  async close(): Promise<void> {
    for (const release of this.hung.splice(0)) release();
    await this.server.close();
  }

  // -------------------------------------------------------------------------------------------

  private handle(body: string, send: (xml: string) => void, park: (release: () => void) => void): void {
    let method: string;
    let params: RpcValue[];
    try {
      const root = parseXml(body).root;
      method = firstChild(root, '', 'methodName') ? textContent(firstChild(root, '', 'methodName')!) : '';
      const ps = firstChild(root, '', 'params');
      params = ps ? childElements(ps, '', 'param').map((p) => rpcValue(firstChild(p, '', 'value')!)) : [];
    } catch (e) {
      send(fault(-32700, `parse error: ${(e as Error).message}`));
      return;
    }
    this.calls.push({ method, params });
    const step = this.plans.get(method)?.shift();
    if (step?.kind === 'fail') {
      send(answer(false, step.fault.message, step.fault.code));
      return;
    }
    if (params[0] !== this.session) {
      send(answer(false, `[${method}] User couldn't be authenticated, aborting call.`, AUTHENTICATION));
      return;
    }
    if (step?.kind === 'hang') {
      if (step.afterEffect) this.perform(method, params.slice(1));
      park(() => send(answer(false, `[${method}] the stub was closed`, ACTION)));
      return;
    }
    const [ok, value, code] = this.perform(method, params.slice(1));
    send(answer(ok, value, code));
  }

  private perform(method: string, p: RpcValue[]): [boolean, string | number, number] {
    const err = (message: string, code: number): [boolean, string, number] => [false, `[${method}] ${message}`, code];
    switch (method) {
      case 'one.hostpool.info':
        return [true, this.hostPool(), 0];
      case 'one.templatepool.info':
        return [true, `<VMTEMPLATE_POOL>${this.templates.map(templateXml).join('')}</VMTEMPLATE_POOL>`, 0];
      case 'one.vmpool.info':
        return [true, `<VM_POOL>${this.live().map((v) => this.vmXml(v)).join('')}</VM_POOL>`, 0];
      case 'one.template.instantiate': {
        const [templateId, name, hold, extra] = p as [number, string, boolean, string];
        const t = this.templates.find((x) => x.id === templateId);
        if (!t) return err(`Error getting template [${templateId}].`, NO_EXISTS);
        const attrs = parseExtraTemplate(typeof extra === 'string' ? extra : '');
        const template: Record<string, string> = { CPU: t.attributes['CPU'] ?? '1', MEMORY: t.attributes['MEMORY'] ?? '512' };
        const userTemplate: Record<string, string> = {};
        for (const [k, v] of Object.entries(attrs)) (['CPU', 'VCPU', 'MEMORY'].includes(k) ? template : userTemplate)[k] = v;
        const id = this.nextVmId++;
        this.vms.set(id, { id, name: name || `${t.name}-${id}`, templateId, state: hold ? 2 : 1, lcmState: 0, template, userTemplate });
        return [true, id, 0];
      }
      case 'one.vm.deploy': {
        const [vmId, hostId, enforce] = p as [number, number, boolean];
        const vm = this.vms.get(vmId);
        if (!vm || vm.state === 6) return err(`Error getting virtual machine [${vmId}].`, NO_EXISTS);
        const host = this.hosts.find((h) => h.id === hostId);
        if (!host) return err(`Error getting host [${hostId}].`, NO_EXISTS);
        if (vm.state !== 1 && vm.state !== 2) return err('Wrong state to perform action', ACTION);
        const cpu = Number(vm.template['CPU']);
        const mem = Number(vm.template['MEMORY']);
        const used = this.used(host.id);
        if (enforce && (used.cpus + cpu > host.cpus || used.memoryMb + mem > host.memoryMb)) {
          return err(`Error deploying virtual machine ${vmId} to HID: ${hostId}. Host capacity exceeded. Requested: CPU=${cpu * 100} MEMORY=${mem * 1024}. Free: CPU=${(host.cpus - used.cpus) * 100} MEMORY=${(host.memoryMb - used.memoryMb) * 1024}`, ACTION);
        }
        vm.state = 3;
        vm.lcmState = 3;
        vm.hostId = hostId;
        return [true, vmId, 0];
      }
      case 'one.vm.action': {
        const [action, vmId] = p as [string, number];
        const vm = this.vms.get(vmId);
        if (!vm || vm.state === 6) return err(`Error getting virtual machine [${vmId}].`, NO_EXISTS);
        if (action !== 'terminate' && action !== 'terminate-hard') return err(`Virtual machine action "${action}" is not supported`, ACTION);
        // As oned (5.0+): a VM that is not ACTIVE is deleted by either action; an ACTIVE one is shut down gracefully
        // only while RUNNING or UNKNOWN (the guest gets ACPI; one that ignores it stays in SHUTDOWN), hard in any state.
        if (vm.state === 3 && action === 'terminate') {
          if (vm.lcmState !== 3 && vm.lcmState !== 16) return err(`This action is not available for state ${vm.lcmState === 12 ? 'SHUTDOWN' : vm.lcmState === 36 ? 'BOOT_FAILURE' : `LCM_STATE ${vm.lcmState}`}`, ACTION);
          if (vm.ignoresAcpi) {
            vm.lcmState = 12;
            return [true, vmId, 0];
          }
        }
        vm.state = 6;
        return [true, vmId, 0];
      }
      default:
        return err('method not supported by the stub', ACTION);
    }
  }

  /** What the VMs placed on a host take (ACTIVE ones: a failed VM keeps its host share until deleted, as in oned). */
  used(hostId: number): { cpus: number; memoryMb: number } {
    const host = this.hosts.find((h) => h.id === hostId)!;
    let cpus = host.foreignCpus ?? 0;
    let memoryMb = host.foreignMemoryMb ?? 0;
    for (const v of this.vms.values()) {
      if (v.state !== 3 || v.hostId !== hostId) continue;
      cpus += Number(v.template['CPU']);
      memoryMb += Number(v.template['MEMORY']);
    }
    return { cpus, memoryMb };
  }

  private hostPool(): string {
    return `<HOST_POOL>${this.hosts
      .map((h) => {
        const u = this.used(h.id);
        return (
          `<HOST><ID>${h.id}</ID><NAME>${h.name}</NAME><STATE>2</STATE><HOST_SHARE><MEM_USAGE>${u.memoryMb * 1024}</MEM_USAGE><CPU_USAGE>${Math.round(u.cpus * 100)}</CPU_USAGE>` +
          `<TOTAL_MEM>${h.memoryMb * 1024}</TOTAL_MEM><TOTAL_CPU>${h.cpus * 100}</TOTAL_CPU><MAX_MEM>${h.memoryMb * 1024}</MAX_MEM><MAX_CPU>${h.cpus * 100}</MAX_CPU>` +
          `<RUNNING_VMS>${[...this.vms.values()].filter((v) => v.state === 3 && v.hostId === h.id).length}</RUNNING_VMS></HOST_SHARE><TEMPLATE><HYPERVISOR><![CDATA[kvm]]></HYPERVISOR></TEMPLATE></HOST>`
        );
      })
      .join('')}</HOST_POOL>`;
  }

  private vmXml(v: StubVm): string {
    const host = v.hostId !== undefined ? this.hosts.find((h) => h.id === v.hostId) : undefined;
    const attrs = (o: Record<string, string>): string => Object.entries(o).map(([k, x]) => `<${k}><![CDATA[${x}]]></${k}>`).join('');
    return (
      `<VM><ID>${v.id}</ID><UID>0</UID><NAME>${escape(v.name)}</NAME><STATE>${v.state}</STATE><LCM_STATE>${v.lcmState}</LCM_STATE>` +
      `<TEMPLATE>${attrs(v.template)}<TEMPLATE_ID>${v.templateId}</TEMPLATE_ID><VMID>${v.id}</VMID></TEMPLATE><USER_TEMPLATE>${attrs(v.userTemplate)}</USER_TEMPLATE>` +
      `<HISTORY_RECORDS>${host ? `<HISTORY><SEQ>0</SEQ><HOSTNAME>${host.name}</HOSTNAME><HID>${host.id}</HID></HISTORY>` : ''}</HISTORY_RECORDS></VM>`
    );
  }
}

function templateXml(t: StubTemplate): string {
  const attrs = Object.entries(t.attributes).map(([k, x]) => `<${k}><![CDATA[${x}]]></${k}>`).join('');
  return `<VMTEMPLATE><ID>${t.id}</ID><UID>0</UID><NAME>${escape(t.name)}</NAME><TEMPLATE>${attrs}</TEMPLATE></VMTEMPLATE>`;
}

/** `KEY = "value"` lines, values with \\" and \\\\ escapes, as oned's template parser reads them. */
export function parseExtraTemplate(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*$/.exec(line);
    if (m) out[m[1]!.toUpperCase()] = m[2]!.replace(/\\(.)/g, '$1');
  }
  return out;
}

function textContent(el: import('../../xml/safe-xml').XmlElement): string {
  return el.children.map((c) => ('text' in c ? c.text : '')).join('').trim();
}

function escape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function encode(v: string | number | boolean): string {
  if (typeof v === 'boolean') return `<boolean>${v ? 1 : 0}</boolean>`;
  if (typeof v === 'number') return `<i4>${v}</i4>`;
  return `<string>${escape(v)}</string>`;
}

function answer(ok: boolean, value: string | number, code: number): string {
  return `<?xml version="1.0"?>\n<methodResponse><params><param><value><array><data><value>${encode(ok)}</value><value>${encode(value)}</value><value>${encode(code)}</value></data></array></value></param></params></methodResponse>`;
}

function fault(code: number, message: string): string {
  return `<?xml version="1.0"?>\n<methodResponse><fault><value><struct><member><name>faultCode</name><value><int>${code}</int></value></member><member><name>faultString</name><value><string>${escape(message)}</string></value></member></struct></value></fault></methodResponse>`;
}
