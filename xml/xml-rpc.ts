/**
 * XML-RPC values both ways (http://xmlrpc.com/spec.md): the methodCall document eac sends and the methodResponse it reads.
 * Knows nothing about OpenNebula's conventions (its `[success, body, code]` answers live in host-info/opennebula.ts).
 */
import { childElements, escapeText, firstChild, isXmlChars, textOf, type XmlElement } from './safe-xml';

export type RpcValue = string | number | boolean | null | RpcValue[] | { [name: string]: RpcValue };
/** What eac sends: strings, integers (i4) and booleans are all OpenNebula's API takes. */
export type RpcParam = string | number | boolean;

/** A methodResponse that does not have the shape the specification gives it. */
export class RpcShapeError extends Error {}

/** The methodCall document. Integers must be whole and within i4; strings must be XML characters. */
export function methodCall(method: string, params: readonly RpcParam[]): string {
  const value = (p: RpcParam): string => {
    if (typeof p === 'boolean') return `<boolean>${p ? 1 : 0}</boolean>`;
    if (typeof p === 'number') {
      if (!Number.isInteger(p) || p < -2147483648 || p > 2147483647) throw new RangeError(`XML-RPC <i4> cannot carry ${p}`);
      return `<i4>${p}</i4>`;
    }
    if (!isXmlChars(p)) throw new RangeError('an XML-RPC string holds characters XML cannot carry');
    return `<string>${escapeText(p)}</string>`;
  };
  return (
    '<?xml version="1.0"?>\n' +
    `<methodCall><methodName>${escapeText(method)}</methodName><params>` +
    params.map((p) => `<param><value>${value(p)}</value></param>`).join('') +
    '</params></methodCall>'
  );
}

/** A methodResponse's fault or its single value. Throws RpcShapeError when it is neither. */
export function methodResponse(root: XmlElement): { readonly fault: { readonly code?: number; readonly message: string } } | { readonly value: RpcValue } {
  if (root.local !== 'methodResponse') throw new RpcShapeError(`the answer is not an XML-RPC methodResponse (root element <${root.qname}>)`);
  const fault = firstChild(root, '', 'fault');
  if (fault) {
    const v = rpcValue(required(fault, 'value', 'fault'));
    const f = v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};
    const code = f['faultCode'];
    return { fault: { ...(typeof code === 'number' ? { code } : {}), message: typeof f['faultString'] === 'string' ? f['faultString'] : 'no faultString' } };
  }
  const params = required(root, 'params', 'methodResponse');
  const param = required(params, 'param', 'params');
  return { value: rpcValue(required(param, 'value', 'param')) };
}

function required(el: XmlElement, local: string, parent: string): XmlElement {
  const child = firstChild(el, '', local);
  if (!child) throw new RpcShapeError(`<${parent}> has no <${local}>`);
  return child;
}

/** One XML-RPC <value>, per the XML-RPC specification (an untyped value is a string). */
export function rpcValue(value: XmlElement): RpcValue {
  const typed = childElements(value);
  if (typed.length === 0) return textOf(value);
  if (typed.length > 1) throw new RpcShapeError('a <value> holds more than one element');
  const t = typed[0]!;
  const text = (): string => textOf(t).trim();
  switch (t.local) {
    case 'string':
      return textOf(t);
    case 'boolean':
      if (text() === '1') return true;
      if (text() === '0') return false;
      throw new RpcShapeError(`<boolean>${text()}</boolean> is neither 0 nor 1`);
    case 'int':
    case 'i4':
    case 'i8': {
      if (!/^[+-]?\d+$/.test(text())) throw new RpcShapeError(`<${t.local}>${text()}</${t.local}> is not an integer`);
      return Number(text());
    }
    case 'double': {
      const n = Number(text());
      if (text() === '' || !Number.isFinite(n)) throw new RpcShapeError(`<double>${text()}</double> is not a number`);
      return n;
    }
    case 'nil':
      return null;
    case 'dateTime.iso8601':
    case 'base64':
      return text();
    case 'array': {
      const data = firstChild(t, '', 'data');
      if (!data) throw new RpcShapeError('<array> has no <data>');
      return childElements(data, '', 'value').map(rpcValue);
    }
    case 'struct': {
      const out: { [name: string]: RpcValue } = {};
      for (const member of childElements(t, '', 'member')) {
        const name = firstChild(member, '', 'name');
        const v = firstChild(member, '', 'value');
        if (!name || !v) throw new RpcShapeError('a struct <member> lacks <name> or <value>');
        out[textOf(name)] = rpcValue(v);
      }
      return out;
    }
    default:
      throw new RpcShapeError(`unknown XML-RPC type <${t.local}>`);
  }
}

/** What kind of value it is, for messages. */
export function describeRpcValue(v: RpcValue | undefined): string {
  if (v === undefined) return 'missing value';
  if (v === null) return 'nil';
  if (Array.isArray(v)) return 'array';
  return typeof v === 'object' ? 'struct' : typeof v;
}
