/**
 * Host capacity from OpenNebula's XML-RPC `one.hostpool.info`: builds the call, reads the XML-RPC answer, converts HOST_POOL.
 * Accepts old (FREE_CPU/USED_CPU…) and new (TOTAL_CPU/TOTAL_MEM…) HOST_SHARE field sets; HTTP, cache and stale answers come from remote.ts.
 */
import { capabilityValueProblem } from '../model/capabilities';
import { AdmissionError, isAdmissionError, type ErrorDetail } from '../model/errors';
import { childElements, escapeText, firstChild, isXmlChars, parseXml, textOf, type XmlElement } from '../xml/safe-xml';
import { describeRpcValue, methodCall, methodResponse, RpcShapeError, type RpcValue } from '../xml/xml-rpc';
import { answerRoot, checkDurations, checkUrl, httpText, notXmlReason, SnapshotCache, type Snapshot } from './remote';
import type { HostCapacity, HostInfoConfig, HostInfoProvider, HostInfoStatus, HostSnapshot, SnapshotInfo } from './types';

export type OpenNebulaConfig = Extract<HostInfoConfig, { kind: 'opennebula' }>;

export const HOSTPOOL_METHOD = 'one.hostpool.info';
/** HOST_POOL with full TEMPLATE and MONITORING sections runs to ~10 KB a host; this allows several thousand. */
const MAX_ANSWER_BYTES = 64 * 1024 * 1024;
const LABEL = 'OpenNebula';
const MAX_DETAILS = 20;

/** Host states whose capacity may be offered: INIT, MONITORING_MONITORED, MONITORED, MONITORING_INIT. */
const USABLE_STATES = new Set([0, 1, 2, 6]);
const STATE_NAMES: Readonly<Record<number, string>> = {
  0: 'INIT',
  1: 'MONITORING_MONITORED',
  2: 'MONITORED',
  3: 'ERROR',
  4: 'DISABLED',
  5: 'MONITORING_ERROR',
  6: 'MONITORING_INIT',
  7: 'MONITORING_DISABLED',
  8: 'OFFLINE',
};
/** OpenNebula's API error codes (third element of a failed answer). */
const ONE_ERROR_CODES: Readonly<Record<number, string>> = {
  0x0100: 'AUTHENTICATION',
  0x0200: 'AUTHORIZATION',
  0x0400: 'NO_EXISTS',
  0x0800: 'ACTION',
  0x1000: 'XML_RPC_API',
  0x2000: 'INTERNAL',
  0x4000: 'ALLOCATE',
  0x8000: 'LOCKED',
};

export class OpenNebulaProvider implements HostInfoProvider {
  readonly name = 'opennebula';
  private readonly cache: SnapshotCache;

  constructor(config: OpenNebulaConfig, options: { clock?: () => number } = {}) {
    const shownUrl = checkUrl('opennebula', config.url);
    checkDurations('opennebula', config);
    checkAuth(config.auth);
    const { url, auth } = config;
    const capabilityAttributes = config.capabilityAttributes ?? {};
    const request = hostPoolInfoCall(auth);
    const scrub = scrubber(auth);
    this.cache = new SnapshotCache({
      provider: this.name,
      source: shownUrl,
      label: LABEL,
      durations: config,
      ...options,
      fetch: async (signal): Promise<Snapshot> => {
        try {
          const body = await httpText({
            method: 'POST',
            url,
            shownUrl,
            label: LABEL,
            body: request,
            headers: { 'Content-Type': 'text/xml', Accept: 'text/xml' },
            signal,
            maxBytes: MAX_ANSWER_BYTES,
            // A redirect would re-send the session string to wherever it points.
            followRedirects: false,
          });
          return parseHostPoolResponse(body, `${LABEL} ${shownUrl}`, capabilityAttributes);
        } catch (error) {
          // Belt and braces: whatever an upstream echoes back, the session string never reaches a message or a log.
          if (isAdmissionError(error)) {
            throw new AdmissionError(
              error.code,
              scrub(error.message),
              error.details.map((d) => ({ field: scrub(d.field), reason: scrub(d.reason) })),
            );
          }
          throw error;
        }
      },
    });
  }

  listHosts(signal?: AbortSignal): Promise<HostSnapshot> {
    return this.cache.get(signal);
  }

  status(): HostInfoStatus {
    return this.cache.status();
  }

  snapshotInfo(snapshot: HostSnapshot): SnapshotInfo | undefined {
    return this.cache.info(snapshot);
  }
}

/**
 * The methodCall document. Only the session is sent: `one.hostpool.info(session)` is the signature of the
 * OpenNebula 3.x–6.x API that AC_ONE and the XML-RPC clients (OCA, pyone, goca) use.
 */
export function hostPoolInfoCall(auth: string): string {
  return methodCall(HOSTPOOL_METHOD, [auth]);
}

export function checkAuth(auth: unknown): void {
  // The messages never repeat the value: it is a password.
  const bad = (reason: string): never => {
    throw new AdmissionError('AC_ERR_CONFIG', `opennebula: auth ${reason}`, [{ field: 'opennebula.auth', reason }]);
  };
  if (typeof auth !== 'string' || auth === '') bad('is required (user:password)');
  const s = auth as string;
  const colon = s.indexOf(':');
  if (colon <= 0 || colon === s.length - 1) bad('must have the form user:password');
  if (!isXmlChars(s) || /[\r\n]/.test(s)) bad('contains characters that cannot be sent');
}

/** Replaces the session string (and its password) wherever an upstream echoes it back. */
export function scrubber(auth: string): (s: string) => string {
  const password = auth.slice(auth.indexOf(':') + 1);
  const secrets = [auth, escapeText(auth), ...(password.length >= 4 ? [password, escapeText(password)] : [])];
  return (s) => {
    let out = s;
    for (const secret of secrets) out = out.split(secret).join('***');
    return out;
  };
}

// ---------------------------------------------------------------------------------------------
// The XML-RPC answer

/** OpenNebula refused a call: its message and API error code (`[false, message, code]`), or an XML-RPC fault. */
export class OpenNebulaError extends AdmissionError {
  /** OpenNebula's error code (0x0400 NO_EXISTS, 0x0800 ACTION…); undefined for XML-RPC faults and malformed answers. */
  readonly oneCode: number | undefined;
  constructor(message: string, details: readonly ErrorDetail[], oneCode?: number) {
    super('AC_ERR_UPSTREAM', message, details);
    this.oneCode = oneCode;
  }
}

export const ONE_NO_EXISTS = 0x0400;
/** oned refuses the action in the resource's state ("This action is not available for state …"). */
export const ONE_ACTION = 0x0800;

/**
 * Reads an OpenNebula methodResponse: `[success, body, code]`. Returns the body of a successful answer; throws an
 * OpenNebulaError whose message starts with `where` and carries OpenNebula's own message and code otherwise.
 */
export function openNebulaResult(xml: string, method: string, where: string): RpcValue {
  const fail = (reason: string, oneCode?: number): never => {
    throw new OpenNebulaError(`${where}: ${reason}`, [{ field: where, reason }], oneCode);
  };
  const root = answerRoot(xml, where);
  let result: RpcValue;
  try {
    const answer = methodResponse(root);
    if ('fault' in answer) return fail(`XML-RPC fault${answer.fault.code !== undefined ? ` ${answer.fault.code}` : ''}: ${answer.fault.message}`);
    result = answer.value;
  } catch (error) {
    if (error instanceof RpcShapeError) return fail(root.local === 'methodResponse' ? `the XML-RPC answer is malformed: ${error.message}` : error.message);
    throw error;
  }
  if (!Array.isArray(result)) return fail(`${method} answered a ${describeRpcValue(result)}, not the [success, body, code] array`);
  const [success, body, code] = result;
  if (typeof success !== 'boolean') return fail(`${method} answered an array whose first element is a ${describeRpcValue(success)}, not a boolean`);
  if (!success) {
    const message = typeof body === 'string' && body.trim() !== '' ? body.trim() : 'no message';
    const codeText = typeof code === 'number' ? ` (error code ${code}${ONE_ERROR_CODES[code] ? ` ${ONE_ERROR_CODES[code]}` : ''})` : '';
    return fail(`${method} failed: ${message}${codeText}`, typeof code === 'number' ? code : undefined);
  }
  return body ?? null;
}

/**
 * Reads a `one.hostpool.info` methodResponse and its HOST_POOL. Throws AC_ERR_UPSTREAM whose message starts with `where`:
 * XML-RPC faults and `[false, message, code]` answers carry OpenNebula's own message.
 */
export function parseHostPoolResponse(xml: string, where = 'OpenNebula answer', capabilityAttributes: Readonly<Record<string, string>> = {}): Snapshot {
  const body = openNebulaResult(xml, HOSTPOOL_METHOD, where);
  if (typeof body !== 'string') throw new AdmissionError('AC_ERR_UPSTREAM', `${where}: ${HOSTPOOL_METHOD} succeeded but its body is a ${describeRpcValue(body)}, not a HOST_POOL string`, [{ field: where, reason: 'not a HOST_POOL string' }]);
  return parseHostPool(body, where, capabilityAttributes);
}

// ---------------------------------------------------------------------------------------------
// HOST_POOL

/** Prefix of HOST TEMPLATE attributes read as capabilities without a mapping entry: EAC_CAP_NODEJS → nodejs. */
export const CAPABILITY_ATTRIBUTE_PREFIX = 'EAC_CAP_';

/**
 * A HOST's TEMPLATE attributes as capabilities: the mapped ones and every EAC_CAP_<NAME>. YES / TRUE are flags, NO /
 * FALSE / empty mean "not there", anything else is the value (a version such as 20.11.1, or a zone). A value that is
 * not a usable capability value is reported as a problem of that host, like any other bad figure.
 */
function templateCapabilities(template: XmlElement | undefined, ns: string, mapping: Readonly<Record<string, string>>, problem: (field: string, reason: string) => void): Record<string, string | true> | undefined {
  if (!template) return undefined;
  const out: Record<string, string | true> = {};
  for (const el of childElements(template, ns)) {
    const attribute = el.local;
    const name = mapping[attribute] ?? (attribute.startsWith(CAPABILITY_ATTRIBUTE_PREFIX) ? attribute.slice(CAPABILITY_ATTRIBUTE_PREFIX.length).toLowerCase() : undefined);
    if (name === undefined) continue;
    const raw = textOf(el).trim();
    if (raw === '' || /^(no|false)$/i.test(raw)) continue;
    const value: string | true = /^(yes|true)$/i.test(raw) ? true : raw;
    const bad = capabilityValueProblem(name, value);
    if (bad) problem(`TEMPLATE/${attribute}`, bad);
    else out[name] = value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * Converts a HOST_POOL document.
 *
 * - Id: NAME (OpenNebula's numeric IDs are not 0..n−1, defect D12, and names are what operators know).
 * - Hosts in ERROR, DISABLED, MONITORING_ERROR, MONITORING_DISABLED or OFFLINE (or any state this code does not know)
 *   are skipped and listed in the snapshot's notes: their capacity cannot be used.
 * - Capacity is what OpenNebula's scheduler allocates against: MAX_CPU (total minus the operator's reservation; TOTAL_CPU
 *   when a release lacks MAX_CPU) and CPU_USAGE, in hundredths of a CPU; MAX_MEM / MEM_USAGE in KB. The monitored
 *   FREE_CPU/USED_CPU of old releases measure load, not allocation, and are ignored.
 * - Rounding is conservative: cpus = floor(MAX_CPU/100), usedCpus = ceil(CPU_USAGE/100), memoryMb = floor(MAX_MEM/1024),
 *   usedMemoryMb = ceil(MEM_USAGE/1024), used figures clamped to the total (an overcommitted host has nothing free).
 * - Non-numeric or negative figures, a missing NAME/STATE/HOST_SHARE on a usable host, or duplicate NAMEs make the
 *   whole answer invalid.
 */
export function parseHostPool(xml: string, where = 'HOST_POOL document', capabilityAttributes: Readonly<Record<string, string>> = {}): Snapshot {
  const fail = (reason: string, details: readonly ErrorDetail[] = [{ field: where, reason }]): never => {
    throw new AdmissionError('AC_ERR_UPSTREAM', `${where}: ${reason}`, details);
  };
  let root: XmlElement;
  try {
    root = parseXml(xml).root;
  } catch (error) {
    if (!isAdmissionError(error)) throw error;
    return fail(`the HOST_POOL body ${notXmlReason(error)}`);
  }
  if (root.local !== 'HOST_POOL') fail(`the body is not a HOST_POOL document (root element <${root.qname}>)`);

  const problems: ErrorDetail[] = [];
  const skipped: string[] = [];
  const hosts: HostCapacity[] = [];
  const seen = new Map<string, number>();
  const ns = root.ns;
  childElements(root, ns, 'HOST').forEach((el, i) => {
    const text = (parent: XmlElement, local: string): string | undefined => {
      const child = firstChild(parent, ns, local);
      return child ? textOf(child).trim() : undefined;
    };
    const idText = text(el, 'ID');
    const name = text(el, 'NAME') ?? '';
    const at = `HOST[${i + 1}]${name ? ` "${name}"` : idText ? ` (ID ${idText})` : ''}`;
    const problem = (field: string, reason: string): void => {
      problems.push({ field: `${at}/${field}`, reason });
    };
    if (name === '') problem('NAME', 'is missing');
    const stateText = text(el, 'STATE');
    if (stateText === undefined || !/^\d+$/.test(stateText)) {
      problem('STATE', stateText === undefined ? 'is missing' : `is not a state number ("${stateText}")`);
      return;
    }
    const state = Number(stateText);
    if (!USABLE_STATES.has(state)) {
      skipped.push(`${name || `ID ${idText ?? '?'}`} (${STATE_NAMES[state] ?? `unknown state ${state}`})`);
      return;
    }
    if (name !== '') {
      if (seen.has(name)) problem('NAME', `duplicate NAME "${name}" (also HOST[${seen.get(name)! + 1}])`);
      else seen.set(name, i);
    }
    const share = firstChild(el, ns, 'HOST_SHARE');
    if (!share) {
      problem('HOST_SHARE', 'is missing');
      return;
    }
    const figure = (...names: string[]): number | undefined => {
      for (const n of names) {
        const raw = text(share, n);
        if (raw === undefined) continue;
        if (/^-\s*\d+(\.\d+)?$/.test(raw)) problem(`HOST_SHARE/${n}`, `is negative (${raw})`);
        else if (!/^\+?\d+(\.\d+)?$/.test(raw)) problem(`HOST_SHARE/${n}`, `is not a number ("${raw.slice(0, 40)}")`);
        else return Number(raw);
        return undefined;
      }
      problem(`HOST_SHARE/${names[0]}`, 'is missing');
      return undefined;
    };
    const maxCpu = figure('MAX_CPU', 'TOTAL_CPU');
    const cpuUsage = figure('CPU_USAGE');
    const maxMem = figure('MAX_MEM', 'TOTAL_MEM');
    const memUsage = figure('MEM_USAGE');
    if (maxCpu === undefined || cpuUsage === undefined || maxMem === undefined || memUsage === undefined) return;

    const cpus = Math.floor(maxCpu / 100);
    const memoryMb = Math.floor(maxMem / 1024);
    const capabilities = templateCapabilities(firstChild(el, ns, 'TEMPLATE'), ns, capabilityAttributes, problem);
    hosts.push({
      id: name,
      cpus,
      usedCpus: Math.min(cpus, Math.ceil(cpuUsage / 100)),
      memoryMb,
      usedMemoryMb: Math.min(memoryMb, Math.ceil(memUsage / 1024)),
      ...(capabilities ? { capabilities } : {}),
    });
  });

  if (problems.length > 0) {
    const first = problems[0]!;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
    fail(`invalid HOST_POOL: ${first.field}: ${first.reason}${more}`, problems.slice(0, MAX_DETAILS));
  }
  const notes =
    skipped.length > 0
      ? [`skipped ${skipped.length} host${skipped.length > 1 ? 's' : ''} not usable in their state: ${skipped.slice(0, 20).join(', ')}${skipped.length > 20 ? ', …' : ''}`]
      : [];
  return { hosts, notes };
}
