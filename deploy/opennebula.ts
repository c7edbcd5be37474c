/**
 * The CloudClient of OpenNebula's XML-RPC API (3.x–6.x signatures, as OCA, pyone and goca call them): template
 * instantiate on hold, vm.deploy with the host id (enforce on), vm.action terminate / terminate-hard, vmpool / templatepool /
 * hostpool.
 * The endpoint and session are host-info's (AC_OPENNEBULA_URL / AC_OPENNEBULA_AUTH); the session never reaches a message.
 */
import { AdmissionError, isAdmissionError } from '../model/errors';
import { checkAuth, ONE_ACTION, ONE_NO_EXISTS, OpenNebulaError, openNebulaResult, scrubber } from '../host-info/opennebula';
import { checkUrl, httpText } from '../host-info/remote';
import { childElements, firstChild, parseXml, textOf, type XmlElement } from '../xml/safe-xml';
import { methodCall, type RpcParam, type RpcValue } from '../xml/xml-rpc';
import type { CloudClient, CloudVm, VmSpec, VmTemplate } from './types';

export interface OpenNebulaDeployConfig {
  readonly url: string;
  readonly auth: string;
  /** Deadline of one XML-RPC call, ms. */
  readonly timeoutMs: number;
}

const LABEL = 'OpenNebula';
/** VM_POOL with full templates runs to ~5 KB a VM. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** VM STATE values (OpenNebula's VirtualMachine::VmState). */
const VM_STATES: Readonly<Record<number, string>> = {
  0: 'INIT', 1: 'PENDING', 2: 'HOLD', 3: 'ACTIVE', 4: 'STOPPED', 5: 'SUSPENDED', 6: 'DONE', 7: 'FAILED', 8: 'POWEROFF', 9: 'UNDEPLOYED', 10: 'CLONING', 11: 'CLONING_FAILURE',
};
/** LCM_STATE values that mean the VM failed (OpenNebula's *_FAILURE states; 14 is the FAILURE of releases before 5.0). */
const LCM_FAILURES: Readonly<Record<number, string>> = {
  14: 'FAILURE', 36: 'BOOT_FAILURE', 37: 'BOOT_MIGRATE_FAILURE', 38: 'PROLOG_MIGRATE_FAILURE', 39: 'PROLOG_FAILURE', 40: 'EPILOG_FAILURE',
  41: 'EPILOG_STOP_FAILURE', 42: 'EPILOG_UNDEPLOY_FAILURE', 44: 'PROLOG_MIGRATE_POWEROFF_FAILURE', 46: 'PROLOG_MIGRATE_SUSPEND_FAILURE',
  47: 'BOOT_UNDEPLOY_FAILURE', 48: 'BOOT_STOPPED_FAILURE', 49: 'PROLOG_RESUME_FAILURE', 50: 'PROLOG_UNDEPLOY_FAILURE', 61: 'PROLOG_MIGRATE_UNKNOWN_FAILURE',
};
const LCM_NAMES: Readonly<Record<number, string>> = { 0: 'LCM_INIT', 1: 'PROLOG', 2: 'BOOT', 3: 'RUNNING', 4: 'MIGRATE', 11: 'EPILOG', 12: 'SHUTDOWN', 16: 'UNKNOWN', ...LCM_FAILURES };

export class OpenNebulaCloud implements CloudClient {
  readonly name = 'opennebula';
  private readonly shownUrl: string;
  private readonly scrub: (s: string) => string;

  constructor(private readonly config: OpenNebulaDeployConfig) {
    this.shownUrl = checkUrl('opennebula', config.url);
    checkAuth(config.auth);
    if (!(config.timeoutMs > 0)) throw new AdmissionError('AC_ERR_CONFIG', 'deploy: timeoutMs must be a positive number of ms', [{ field: 'deploy.timeoutMs', reason: 'not positive' }]);
    this.scrub = scrubber(config.auth);
  }

  /** One XML-RPC call: the session first, then `params`; the body of a successful answer. */
  private async call(method: string, params: readonly RpcParam[], signal?: AbortSignal): Promise<RpcValue> {
    const timeout = AbortSignal.timeout(this.config.timeoutMs);
    const where = `${LABEL} ${this.shownUrl}`;
    try {
      const body = await httpText({
        method: 'POST',
        url: this.config.url,
        shownUrl: this.shownUrl,
        label: LABEL,
        body: methodCall(method, [this.config.auth, ...params]),
        headers: { 'Content-Type': 'text/xml', Accept: 'text/xml' },
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
        maxBytes: MAX_ANSWER_BYTES,
        followRedirects: false,
      });
      return openNebulaResult(body, method, where);
    } catch (error) {
      if (timeout.aborted && !signal?.aborted) {
        throw new AdmissionError('AC_ERR_UPSTREAM', `${where}: ${method} did not answer within ${this.config.timeoutMs} ms`, [{ field: where, reason: 'timeout' }]);
      }
      if (error instanceof OpenNebulaError) throw new OpenNebulaError(this.scrub(error.message), error.details.map((d) => ({ field: this.scrub(d.field), reason: this.scrub(d.reason) })), error.oneCode);
      if (isAdmissionError(error)) throw new AdmissionError(error.code, this.scrub(error.message), error.details.map((d) => ({ field: this.scrub(d.field), reason: this.scrub(d.reason) })));
      throw error;
    }
  }

  private async document(method: string, params: readonly RpcParam[], root: string, signal?: AbortSignal): Promise<XmlElement> {
    const body = await this.call(method, params, signal);
    const where = `${LABEL} ${this.shownUrl}: ${method}`;
    if (typeof body !== 'string') throw new AdmissionError('AC_ERR_UPSTREAM', `${where} succeeded but its body is not a ${root} document`, [{ field: where, reason: 'not a string' }]);
    let el: XmlElement;
    try {
      el = parseXml(body).root;
    } catch (error) {
      if (!isAdmissionError(error)) throw error;
      throw new AdmissionError('AC_ERR_UPSTREAM', `${where}: the ${root} body is not XML: ${error.message}`, [{ field: where, reason: 'not XML' }]);
    }
    if (el.local !== root) throw new AdmissionError('AC_ERR_UPSTREAM', `${where}: the body is not a ${root} document (root element <${el.qname}>)`, [{ field: where, reason: `root <${el.qname}>` }]);
    return el;
  }

  private integer(body: RpcValue, method: string): number {
    if (typeof body === 'number' && Number.isInteger(body) && body >= 0) return body;
    const where = `${LABEL} ${this.shownUrl}: ${method}`;
    throw new AdmissionError('AC_ERR_UPSTREAM', `${where} succeeded but did not answer an id`, [{ field: where, reason: 'no id' }]);
  }

  async hostIds(signal?: AbortSignal): Promise<ReadonlyMap<string, number>> {
    const pool = await this.document('one.hostpool.info', [], 'HOST_POOL', signal);
    const out = new Map<string, number>();
    for (const h of childElements(pool, pool.ns, 'HOST')) {
      const id = integerOf(text(h, 'ID'));
      const name = text(h, 'NAME');
      if (name && id !== undefined) out.set(name, id);
    }
    return out;
  }

  async templates(signal?: AbortSignal): Promise<readonly VmTemplate[]> {
    // filter -2: every template the session may use; -1, -1: the whole range.
    const pool = await this.document('one.templatepool.info', [-2, -1, -1], 'VMTEMPLATE_POOL', signal);
    return childElements(pool, pool.ns, 'VMTEMPLATE').flatMap((t): VmTemplate[] => {
      const id = integerOf(text(t, 'ID'));
      if (id === undefined) return [];
      const template = firstChild(t, t.ns, 'TEMPLATE');
      const component = template ? text(template, 'EAC_COMPONENT') : undefined;
      return [{ id, name: text(t, 'NAME') ?? '', ...(component ? { component } : {}) }];
    });
  }

  async create(spec: VmSpec, signal?: AbortSignal): Promise<number> {
    // CPU (the physical share the scheduler allocates) and VCPU both equal the booked CPUs: what OpenNebula counts on
    // the host is what the ledger booked.
    const attributes: Record<string, string> = { CPU: String(spec.cpus), VCPU: String(Math.max(1, Math.ceil(spec.cpus))), ...(spec.memoryMb !== undefined ? { MEMORY: String(Math.ceil(spec.memoryMb)) } : {}), ...spec.tags };
    const extra = Object.entries(attributes).map(([k, v]) => `${k} = "${templateString(v)}"`).join('\n');
    // (session, template id, name, on hold, extra template): the 5-parameter form every release since 4.0 takes.
    const body = await this.call('one.template.instantiate', [spec.templateId, spec.name, true, extra], signal);
    return this.integer(body, 'one.template.instantiate');
  }

  async deploy(vmId: number, hostId: number, signal?: AbortSignal): Promise<void> {
    // enforce = true: oned refuses a host without the capacity instead of overcommitting it; datastore -1: the default.
    await this.call('one.vm.deploy', [vmId, hostId, true, -1], signal);
  }

  async terminate(vmId: number, how: 'graceful' | 'hard', signal?: AbortSignal): Promise<'accepted' | 'absent' | 'wrong-state'> {
    try {
      // `terminate`: ACPI shutdown, then the VM is DONE (at once when it is not running: HOLD, PENDING, POWEROFF…);
      // `terminate-hard`: destroyed without asking the guest.
      await this.call('one.vm.action', [how === 'hard' ? 'terminate-hard' : 'terminate', vmId], signal);
      return 'accepted';
    } catch (error) {
      if (error instanceof OpenNebulaError && error.oneCode === ONE_NO_EXISTS) return 'absent';
      if (error instanceof OpenNebulaError && error.oneCode === ONE_ACTION) return 'wrong-state';
      throw error;
    }
  }

  async vms(signal?: AbortSignal): Promise<readonly CloudVm[]> {
    // filter -2 (all), whole range, state -1 (any but DONE).
    const pool = await this.document('one.vmpool.info', [-2, -1, -1, -1], 'VM_POOL', signal);
    return childElements(pool, pool.ns, 'VM').flatMap((vm): CloudVm[] => {
      const id = integerOf(text(vm, 'ID'));
      const state = integerOf(text(vm, 'STATE'));
      const lcm = integerOf(text(vm, 'LCM_STATE')) ?? 0;
      // A VM whose id or state cannot be read is not one eac can reason about (nor adopt).
      if (id === undefined || state === undefined || state === 6) return [];
      const tag = attributeOf(vm, 'EAC_SLOT');
      const history = childElements(firstChild(vm, vm.ns, 'HISTORY_RECORDS') ?? vm, vm.ns, 'HISTORY');
      const last = history[history.length - 1];
      const hostName = last ? text(last, 'HOSTNAME') : undefined;
      const stateName = VM_STATES[state] ?? `STATE ${state}`;
      return [
        {
          id,
          name: text(vm, 'NAME') ?? '',
          ...(tag ? { slotTag: tag } : {}),
          ...(hostName && state !== 1 && state !== 2 ? { hostName } : {}),
          state: state === 3 ? `ACTIVE/${LCM_NAMES[lcm] ?? `LCM_STATE ${lcm}`}` : stateName,
          unplaced: state === 1 || state === 2,
          failed: state === 7 || state === 11 || (state === 3 && LCM_FAILURES[lcm] !== undefined),
        },
      ];
    });
  }
}

/** A non-negative integer written in digits, as oned writes ids and states; anything else is undefined. */
function integerOf(s: string | undefined): number | undefined {
  return s !== undefined && /^\d{1,15}$/.test(s) ? Number(s) : undefined;
}

function text(el: XmlElement, local: string): string | undefined {
  const child = firstChild(el, el.ns, local);
  return child ? textOf(child).trim() : undefined;
}

/** An attribute eac set at instantiate: oned keeps unknown attributes in USER_TEMPLATE (older releases: TEMPLATE). */
function attributeOf(vm: XmlElement, name: string): string | undefined {
  for (const section of ['USER_TEMPLATE', 'TEMPLATE']) {
    const el = firstChild(vm, vm.ns, section);
    const v = el ? text(el, name) : undefined;
    if (v) return v;
  }
  return undefined;
}

/** A value inside a template's double quotes: backslash and quote escaped, line breaks (which end an attribute) refused. */
function templateString(v: string): string {
  if (/[\r\n]/.test(v)) throw new AdmissionError('AC_ERR_INVALID_REQUEST', 'a VM attribute value holds a line break', [{ field: 'vm attribute', reason: 'line break' }]);
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}
