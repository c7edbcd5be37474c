/**
 * Reads and validates TREC answer bodies: numbers as JSON or text, OPTIMIS RiskAssesor and pricePlan XML, host batch maps.
 * Pure functions over a body string: no I/O and no fallbacks. A rejection gives a short reason that goes into the degraded note.
 */
import { attribute, childElements, parseXml, textOf, type XmlElement } from '../xml/safe-xml';

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly reason: string };

/**
 * Upper end of the service-risk scale. The IPRA tool's `pof` is not a probability. It is the normalised risk level 1..7 of
 * RiskLevelConverter.convertRiskLevel(pofLevel × impactLevel), and the model's default risk bound (7) is the top of that scale.
 */
export const SERVICE_RISK_MAX = 7;

export interface PricePlan {
  readonly planFloor: number;
  readonly planCap?: number;
  readonly currency?: string;
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

/** Plain decimal notation only, so that "NaN", "Infinity", "0x10" and "" never count as numbers (Number() accepts all of them). */
const DECIMAL = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/** A short, quoted, control-character-free excerpt of untrusted text for a reason string. */
export function excerpt(text: string, max = 60): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(cut);
}

function describe(v: unknown): string {
  if (typeof v === 'string') return `the string ${excerpt(v)}`;
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return excerpt(String(v));
}

/** A JSON number, or a string in plain decimal notation (OPTIMIS tools answer "4.20" as text). */
function numberFrom(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && DECIMAL.test(v.trim())) return Number(v.trim());
  return undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function tryJson(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false };
  }
}

// ---------------------------------------------------------------------------------------------
// Value checks, shared by service and host answers

export type Check = (v: number) => string | undefined;

const finite: Check = (v) => (Number.isFinite(v) ? undefined : `${v} is not a finite number`);

export const checkTrust: Check = (v) => finite(v) ?? (v >= 0 ? undefined : `trust ${v} is negative`);

/** OPTIMIS replaced an eco-efficiency of 0 by its default because the tool answers 0 when it has not assessed anything. */
export const checkEco: Check = (v) =>
  finite(v) ?? (v < 0 ? `eco ${v} is negative` : v === 0 ? 'eco 0 means "not assessed" (OPTIMIS convention)' : undefined);

export const checkServiceRisk: Check = (v) =>
  finite(v) ?? (v >= 0 && v <= SERVICE_RISK_MAX ? undefined : `risk ${v} is outside the risk-level scale [0, ${SERVICE_RISK_MAX}]`);

/** Host risk is a real probability of failure (IPRA calculatePhyHostPoF, a Weibull probability). */
export const checkHostRisk: Check = (v) =>
  finite(v) ?? (v >= 0 && v <= 1 ? undefined : `host risk ${v} is not a probability in [0, 1]`);

function checked(n: number | undefined, check: Check, what: string): Parsed<number> {
  if (n === undefined) return fail(what);
  const problem = check(n);
  return problem === undefined ? ok(n) : fail(problem);
}

// ---------------------------------------------------------------------------------------------
// Scalar answers: trust, eco, and risk when it is not XML

/** A bare number, `{"<key>": n}` or `{"value": n}`, as JSON or text. */
function parseScalar(body: string, keys: readonly string[], check: Check): Parsed<number> {
  const text = body.trim();
  if (text === '') return fail('empty body');
  if (text.startsWith('<')) return fail(`markup where a number was expected: ${excerpt(text)}`);
  const json = tryJson(text);
  if (!json.ok) return checked(numberFrom(text), check, `not a number: ${excerpt(text)}`);
  const v = json.value;
  if (isPlainObject(v)) {
    for (const key of [...keys, 'value']) {
      if (Object.hasOwn(v, key)) return checked(numberFrom(v[key]), check, `"${key}" is ${describe(v[key])}, not a number`);
    }
    return fail(`JSON object without ${[...keys, 'value'].map((k) => `"${k}"`).join(' or ')}`);
  }
  return checked(numberFrom(v), check, `expected a number, got ${describe(v)}`);
}

export function parseTrustAnswer(body: string): Parsed<number> {
  return parseScalar(body, ['trust'], checkTrust);
}

export function parseEcoAnswer(body: string): Parsed<number> {
  return parseScalar(body, ['eco', 'ecoSP'], checkEco);
}

// ---------------------------------------------------------------------------------------------
// Risk: a number on the 1..7 risk-level scale, or OPTIMIS `<RiskAssesor><sp rank="0" pof="2.0">NAME</sp>…</RiskAssesor>`

export function parseRiskAnswer(body: string): Parsed<number> {
  const text = body.trim();
  if (!text.startsWith('<')) return parseScalar(text, ['risk', 'pof'], checkServiceRisk);
  const root = xmlRoot(text);
  if (!root.ok) return root;
  // The tool spells it RiskAssesor. The correct spelling is accepted too because it costs nothing.
  if (root.value.local !== 'RiskAssesor' && root.value.local !== 'RiskAssessor') {
    return fail(`expected <RiskAssesor>, got <${root.value.qname}>`);
  }
  const sps = childElements(root.value).filter((e) => e.local === 'sp');
  if (sps.length === 0) return fail('<RiskAssesor> without <sp>');
  // rank 0 is the best-ranked provider. The AC sends one provider, so it is the service's own provider.
  const best = sps.filter((e) => attribute(e, '', 'rank')?.trim() === '0');
  if (best.length === 0) return fail('no <sp rank="0"> in <RiskAssesor>');
  if (best.length > 1) return fail('several <sp rank="0"> in <RiskAssesor>');
  const pof = attribute(best[0]!, '', 'pof');
  if (pof === undefined) return fail('<sp rank="0"> without a pof attribute');
  return checked(numberFrom(pof), checkServiceRisk, `pof ${excerpt(pof)} is not a number`);
}

// ---------------------------------------------------------------------------------------------
// Cost: OPTIMIS `<pricePlan>` XML or `{"planFloor": 10, "planCap": 70, "currency": "EUR"}`

export function parseCostAnswer(body: string): Parsed<PricePlan> {
  const text = body.trim();
  // OPTIMIS's TRECcommon getCost answered an empty body (it discarded the tool's result, D4).
  if (text === '') return fail('empty body');
  if (text.startsWith('<')) {
    const root = xmlRoot(text);
    if (!root.ok) return root;
    if (root.value.local !== 'pricePlan') return fail(`expected <pricePlan>, got <${root.value.qname}>`);
    const field = (name: string): string | undefined => {
      const el = childElements(root.value).find((e) => e.local === name);
      return el === undefined ? undefined : textOf(el).trim();
    };
    return pricePlan(field('planFloor'), field('planCap'), field('currency'));
  }
  const json = tryJson(text);
  if (!json.ok) return fail(`neither JSON nor XML: ${excerpt(text)}`);
  const v = json.value;
  if (!isPlainObject(v)) return fail(`expected a price plan object, got ${describe(v)}`);
  return pricePlan(v['planFloor'], v['planCap'], v['currency']);
}

function pricePlan(floorRaw: unknown, capRaw: unknown, currencyRaw: unknown): Parsed<PricePlan> {
  if (floorRaw === undefined) return fail('price plan without planFloor');
  const planFloor = numberFrom(floorRaw);
  if (planFloor === undefined || !Number.isFinite(planFloor) || planFloor < 0) {
    return fail(`planFloor ${describe(floorRaw)} is not a non-negative number`);
  }
  let planCap: number | undefined;
  if (capRaw !== undefined && capRaw !== null) {
    planCap = numberFrom(capRaw);
    if (planCap === undefined || !Number.isFinite(planCap) || planCap < 0) return fail(`planCap ${describe(capRaw)} is not a non-negative number`);
    if (planCap < planFloor) return fail(`planCap ${planCap} is below planFloor ${planFloor}`);
  }
  let currency: string | undefined;
  if (currencyRaw !== undefined && currencyRaw !== null) {
    // Kept for reports only. It is checked so that a 10 kB blob or control characters cannot reach them.
    if (typeof currencyRaw !== 'string' || !/^[\p{L}\p{N}\p{Sc} ._-]{1,16}$/u.test(currencyRaw.trim())) {
      return fail(`currency ${describe(currencyRaw)} is not a short currency code`);
    }
    currency = currencyRaw.trim();
  }
  return ok({ planFloor, ...(planCap !== undefined ? { planCap } : {}), ...(currency !== undefined ? { currency } : {}) });
}

// ---------------------------------------------------------------------------------------------
// Host batches: `{"h1": 0.01, …}` or `{"values": {"h1": 0.01, …}}`

/** One host's entry of a batch answer. `missing`: the host is absent from the answer (as opposed to present with a bad value). */
export type HostEntry = { readonly ok: true; readonly value: number } | { readonly ok: false; readonly reason: string; readonly missing: boolean };

/**
 * The per-host outcome for every requested host, in `hostIds` order. The whole answer fails only when it is not a JSON map;
 * a missing or bad entry fails for that host alone.
 */
export function parseHostAnswer(body: string, hostIds: readonly string[], check: Check): Parsed<Map<string, HostEntry>> {
  const text = body.trim();
  if (text === '') return fail('empty body');
  const json = tryJson(text);
  if (!json.ok) return fail(`not JSON: ${excerpt(text)}`);
  let map = json.value;
  if (!isPlainObject(map)) return fail(`expected an object of host values, got ${describe(map)}`);
  // A host value is a number, never an object, so an object under "values" can only be the wrapped form.
  if (isPlainObject(map['values'])) map = map['values'];
  const values = map as Record<string, unknown>;
  const out = new Map<string, HostEntry>();
  for (const id of hostIds) {
    // hasOwn, so that host ids such as "constructor" or "__proto__" never read inherited properties.
    if (!Object.hasOwn(values, id)) {
      out.set(id, { ok: false, reason: `host ${excerpt(id)} missing from the answer`, missing: true });
      continue;
    }
    const v = checked(numberFrom(values[id]), check, `${describe(values[id])} is not a number`);
    out.set(id, v.ok ? v : { ok: false, reason: `host ${excerpt(id)}: ${v.reason}`, missing: false });
  }
  return ok(out);
}

// ---------------------------------------------------------------------------------------------

/** The root element of an XML answer. Matching is by local name: these small wire documents carry no namespaces in OPTIMIS. */
function xmlRoot(text: string): Parsed<XmlElement> {
  try {
    return ok(parseXml(text).root);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return fail(`bad XML: ${message.length > 160 ? `${message.slice(0, 160)}…` : message}`);
  }
}
