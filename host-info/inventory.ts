/**
 * Host capacity from a JSON inventory file the operator maintains: strict validation with precise messages, and a
 * cache that re-reads the file when it changes on disk. Knows nothing of HTTP; remote sources live in their own modules.
 */
import { capabilityValueProblem } from '../model/capabilities';
import { promises as fsp } from 'node:fs';
import { z } from 'zod';
import { AdmissionError, isAdmissionError, type ErrorDetail } from '../model/errors';
import { checkGuardConfig, SnapshotKeeper } from './keeper';
import type { HostCapacity, HostInfoProvider, HostInfoStatus, HostSnapshot, InventoryConfig, SnapshotInfo } from './types';

const MAX_DETAILS = 50;
const NO_HOSTS = 'must list at least one host';
/** A hand-maintained inventory of 100,000 hosts is ~15 MB; a bigger file is a mistake, not an inventory. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

// ---------------------------------------------------------------------------------------------
// Schema

const typed = (what: string) => (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${what} (got ${shown(issue.input)})`);

const wholeCount = z
  .number({ error: typed('a number') })
  .int({ error: 'must be a whole number' })
  .min(0, { error: 'must be ≥ 0' });

const HOST_FIELDS = ['id', 'cpus', 'usedCpus', 'memoryMb', 'usedMemoryMb', 'eco', 'risk', 'capabilities'] as const;

/** `{"nodejs": "20.11.1", "avx512": true, "zone": "eu-west-1a"}`: names and values as model/capabilities.ts reads them. */
const capabilitiesSchema = z
  .record(z.string(), z.union([z.string(), z.literal(true)], { error: 'must be a version or value (a string), or true for a flag' }), { error: typed('an object of capability: value') })
  .superRefine((caps, ctx) => {
    for (const [name, value] of Object.entries(caps)) {
      const problem = capabilityValueProblem(name, value);
      if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
    }
  });

const hostSchema = z.strictObject({
  id: z
    .string({ error: typed('a string') })
    .min(1, { error: 'must not be empty' })
    .max(256, { error: 'must be at most 256 characters' })
    .refine((s) => s.trim() === s, { error: 'must not start or end with spaces' })
    .refine((s) => !/[\u0000-\u001f\u007f]/.test(s), { error: 'must not contain control characters' }),
  cpus: wholeCount,
  usedCpus: wholeCount,
  memoryMb: wholeCount.optional(),
  usedMemoryMb: wholeCount.optional(),
  eco: z.number({ error: typed('a number') }).min(0, { error: 'must be ≥ 0' }).optional(),
  risk: z
    .number({ error: typed('a number') })
    .min(0, { error: 'must be between 0 and 1' })
    .max(1, { error: 'must be between 0 and 1' })
    .optional(),
  capabilities: capabilitiesSchema.optional(),
});

// ---------------------------------------------------------------------------------------------
// Parsing

/**
 * Validates inventory text. `file` is how the file is named in messages (the configured path).
 * Throws AC_ERR_CONFIG: the message is `<file>: <field>: <reason>` for the first problem (with a count of the others),
 * the details list every problem (up to 50).
 *
 * Used figures above the total are an error here, not clamped as OPTIMIS and the remote providers do: this file is
 * written by a person, and `usedCpus: 61` on a 16-core host is a typo to report, not an overcommitment to absorb.
 * Memory is both-or-neither (memoryMb with usedMemoryMb). Duplicate ids are an error. Unknown fields are errors
 * (a misspelt `usedCPUs` must not silently read as an idle host); a top-level `comment` string is allowed.
 */
export function parseInventory(text: string, file: string): HostCapacity[] {
  return parseInventoryText(text, file, false);
}

/** parseInventory, with `hosts: []` accepted when allowEmpty (the provider decides what an empty list means). */
function parseInventoryText(text: string, file: string, allowEmpty: boolean): HostCapacity[] {
  const problems: ErrorDetail[] = [];
  const add = (field: string, reason: string): void => {
    problems.push({ field, reason });
  };

  const json = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (error) {
    throw configError(file, [{ field: '(file)', reason: `not valid JSON ${jsonErrorText(error as Error, json)}` }]);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    throw configError(file, [{ field: '(file)', reason: `must be a JSON object {"hosts": [...]} (got ${shown(doc)})` }]);
  }
  const top = doc as Record<string, unknown>;
  for (const key of Object.keys(top)) {
    if (key !== 'hosts' && key !== 'comment') add(key, 'is not a known field (hosts, comment)');
  }
  if (top['comment'] !== undefined && typeof top['comment'] !== 'string') add('comment', 'must be a string');
  const list = top['hosts'];
  if (list === undefined) add('hosts', 'is required');
  else if (!Array.isArray(list)) add('hosts', `must be an array (got ${shown(list)})`);
  else if (list.length === 0 && !allowEmpty) add('hosts', NO_HOSTS);
  if (problems.length > 0 || !Array.isArray(list)) throw configError(file, problems);

  const hosts: HostCapacity[] = [];
  const seen = new Map<string, number>();
  list.forEach((raw, i) => {
    const at = `hosts[${i}]`;
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      add(at, `must be an object (got ${shown(raw)})`);
      return;
    }
    const parsed = hostSchema.safeParse(raw);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) {
        if (issue.code === 'unrecognized_keys') {
          for (const key of issue.keys) add(`${at}.${key}`, `is not a known field (${HOST_FIELDS.join(', ')})`);
        } else {
          add(`${at}${pathText(issue.path)}`, issue.message);
        }
      }
      // Duplicate ids are still worth reporting for a host whose other fields are wrong.
      const id = (raw as { id?: unknown }).id;
      if (typeof id === 'string') noteId(id, i);
      return;
    }
    const h = parsed.data;
    noteId(h.id, i);
    if (h.usedCpus > h.cpus) add(`${at}.usedCpus`, `must be ≤ cpus (${h.cpus})`);
    if (h.memoryMb !== undefined && h.usedMemoryMb === undefined) add(`${at}.usedMemoryMb`, 'is required when memoryMb is given');
    if (h.memoryMb === undefined && h.usedMemoryMb !== undefined) add(`${at}.memoryMb`, 'is required when usedMemoryMb is given');
    if (h.memoryMb !== undefined && h.usedMemoryMb !== undefined && h.usedMemoryMb > h.memoryMb) {
      add(`${at}.usedMemoryMb`, `must be ≤ memoryMb (${h.memoryMb})`);
    }
    const host: HostCapacity = { id: h.id, cpus: h.cpus, usedCpus: h.usedCpus };
    if (h.memoryMb !== undefined && h.usedMemoryMb !== undefined) {
      host.memoryMb = h.memoryMb;
      host.usedMemoryMb = h.usedMemoryMb;
    }
    if (h.eco !== undefined) host.eco = h.eco;
    if (h.risk !== undefined) host.risk = h.risk;
    if (h.capabilities !== undefined && Object.keys(h.capabilities).length > 0) host.capabilities = { ...h.capabilities };
    hosts.push(host);
  });
  if (problems.length > 0) throw configError(file, problems);
  return hosts;

  function noteId(id: string, i: number): void {
    const first = seen.get(id);
    if (first !== undefined) add(`hosts[${i}].id`, `duplicate id "${id}" (also hosts[${first}])`);
    else seen.set(id, i);
  }
}

function configError(file: string, problems: readonly ErrorDetail[]): AdmissionError {
  const first = problems[0] ?? { field: '(file)', reason: 'is invalid' };
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more problem${problems.length > 2 ? 's' : ''})` : '';
  const where = first.field === '(file)' ? '' : `${first.field}: `;
  return new AdmissionError(
    'AC_ERR_CONFIG',
    `${file}: ${where}${first.reason}${more}`,
    problems.slice(0, MAX_DETAILS).map((p) => ({ field: `${file}: ${p.field}`, reason: p.reason })),
  );
}

function pathText(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
}

function shown(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `"${v.length > 30 ? `${v.slice(0, 30)}…` : v}"`;
  if (typeof v === 'object') return 'an object';
  return String(v);
}

/**
 * Where and why JSON text is invalid, as `at line L, column C: reason`. JSON.parse's own messages carry no position in
 * current V8 (they quote a piece of the text instead), and an operator editing the file needs the line.
 * Only called after JSON.parse has failed.
 */
function jsonErrorText(error: Error, text: string): string {
  const stop = jsonSyntaxError(text);
  if (!stop) return `(${error.message.replace(/\s+/g, ' ')})`;
  let line = 1;
  let col = 1;
  for (let k = 0; k < stop.index && k < text.length; k++) {
    if (text[k] === '\n') {
      line++;
      col = 1;
    } else col++;
  }
  return `at line ${line}, column ${col}: ${stop.reason}`;
}

class JsonStop {
  constructor(
    readonly index: number,
    readonly reason: string,
  ) {}
}

/** A minimal JSON (RFC 8259) syntax checker that reports the first error's offset. */
function jsonSyntaxError(text: string): JsonStop | undefined {
  let i = 0;
  const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
  const ws = (): void => {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const unexpected = (expected: string): never => {
    throw new JsonStop(i, i >= text.length ? `unexpected end of file, expected ${expected}` : `unexpected ${JSON.stringify(text[i])}, expected ${expected}`);
  };
  const string = (): void => {
    i++;
    for (;;) {
      if (i >= text.length) throw new JsonStop(i, 'unterminated string');
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return;
      }
      if (c < 0x20) throw new JsonStop(i, 'control character (such as a line break) inside a string');
      if (c === 0x5c) {
        if (!/^(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/.test(text.slice(i + 1, i + 6))) throw new JsonStop(i, 'invalid escape sequence in a string');
        i += text[i + 1] === 'u' ? 6 : 2;
      } else i++;
    }
  };
  const value = (depth: number): void => {
    if (depth > 256) throw new JsonStop(i, 'nested too deeply');
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') unexpected('a property name in double quotes');
        string();
        ws();
        if (text[i] !== ':') unexpected("':'");
        i++;
        value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') {
          i++;
          return;
        } else unexpected("',' or '}'");
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value(depth + 1);
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') {
          i++;
          return;
        } else unexpected("',' or ']'");
      }
    }
    if (c === '"') return string();
    for (const literal of ['true', 'false', 'null']) {
      if (text.startsWith(literal, i)) {
        i += literal.length;
        return;
      }
    }
    NUMBER.lastIndex = i;
    if (NUMBER.exec(text)) {
      i = NUMBER.lastIndex;
      return;
    }
    unexpected('a value');
  };
  try {
    value(0);
    ws();
    if (i < text.length) unexpected('the end of the file');
  } catch (e) {
    if (e instanceof JsonStop) return e;
    throw e;
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// Provider

/** The file's latest read: its signature and what it said (hosts, possibly suspicious), or why it is unusable. */
type Loaded = { readonly signature: string; readonly at: number } & (
  | { readonly ok: true; readonly hosts: readonly HostCapacity[] }
  | { readonly ok: false; readonly error: AdmissionError }
);

/** An edit of the inventory file is noticed within this delay. */
const STAT_INTERVAL_MS = 250;

export interface InventoryOptions {
  /** How long a check of the file is trusted before it is checked again, ms (0 = every call). Default 250. */
  readonly statIntervalMs?: number;
  /** Test hook for time; defaults to Date.now. */
  readonly clock?: () => number;
}

/**
 * Reads the inventory once and keeps it; a call costs at most one stat() per statIntervalMs. When the file's mtime, size
 * or inode changes (an operator's edit, or an atomic replace) it is read again.
 * - A file that became invalid is reported on every call until it is fixed; the previous contents are not served, since
 *   the operator's intent is the new file.
 * - A valid file that lists no hosts, or drastically fewer than before, follows the rules of every provider
 *   (SnapshotKeeper): a first empty file is an error; afterwards the previous contents keep being served, marked suspect,
 *   for at most maxStaleMs after the file last vouched for them; a shorter list is believed once the file has kept it
 *   for shrinkConfirmMs.
 */
export class InventoryProvider implements HostInfoProvider {
  readonly name = 'inventory';
  readonly path: string;
  private readonly statIntervalMs: number;
  private readonly clock: () => number;
  private readonly keeper: SnapshotKeeper;
  private loaded: Loaded | undefined;
  private loading: { signature: string; promise: Promise<Loaded> } | undefined;
  /** The signature of the file whose contents the keeper holds. */
  private heldSignature: string | undefined;
  private checkedAt = 0;

  /**
   * @param config the file path, or the inventory settings
   * @param options statIntervalMs (a number, for short) and the clock
   */
  constructor(config: string | InventoryConfig, options: number | InventoryOptions = {}) {
    const c: InventoryConfig = typeof config === 'string' ? { path: config } : config;
    const o: InventoryOptions = typeof options === 'number' ? { statIntervalMs: options } : options;
    if (typeof c.path !== 'string' || c.path.trim() === '') {
      throw new AdmissionError('AC_ERR_CONFIG', 'inventory: path is required', [{ field: 'inventory.path', reason: 'is required' }]);
    }
    checkGuardConfig('inventory', c);
    this.path = c.path;
    this.statIntervalMs = o.statIntervalMs ?? STAT_INTERVAL_MS;
    this.clock = o.clock ?? Date.now;
    this.keeper = new SnapshotKeeper({
      provider: this.name,
      source: this.path,
      where: this.path,
      subject: 'the inventory file',
      verb: 'lists',
      cacheTtlMs: this.statIntervalMs,
      guard: c,
      tooOldCode: 'AC_ERR_CONFIG',
      emptyError: () => configError(this.path, [{ field: 'hosts', reason: NO_HOSTS }]),
      clock: this.clock,
    });
  }

  async listHosts(signal?: AbortSignal): Promise<HostSnapshot> {
    if (signal?.aborted) {
      throw new AdmissionError('AC_ERR_TIMEOUT', `${this.path}: the caller cancelled the request`, [{ field: this.path, reason: 'cancelled' }]);
    }
    // At most one stat() per interval: under load the file check would otherwise cost more than the admission.
    const now = this.clock();
    if (this.loaded?.ok && now - this.checkedAt < this.statIntervalMs && this.keeper.servable(now)) return this.keeper.serve();
    let signature: string;
    let mtimeMs: number;
    try {
      this.checkedAt = now;
      const st = await fsp.stat(this.path);
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: st.isDirectory() ? 'EISDIR' : 'ENOTFILE' });
      if (st.size > MAX_FILE_BYTES) throw Object.assign(new Error('too large'), { code: 'EFBIG' });
      signature = `${st.mtimeMs}:${st.size}:${st.ino}`;
      mtimeMs = st.mtimeMs;
    } catch (error) {
      const e = this.readError(error);
      this.loaded = { signature: '', at: this.clock(), ok: false, error: e };
      this.keeper.fail(e, this.clock());
      throw e;
    }
    let entry = this.loaded;
    if (entry?.signature !== signature) {
      if (this.loading?.signature !== signature) {
        // The held contents were the file's until it changed: they were true up to its new mtime (at most now).
        if (this.heldSignature !== undefined && this.heldSignature === entry?.signature) this.keeper.confirm(Math.min(this.clock(), mtimeMs));
        const promise = this.load(signature).finally(() => {
          if (this.loading?.promise === promise) this.loading = undefined;
        });
        this.loading = { signature, promise };
      }
      entry = await this.loading.promise;
    } else if (entry.ok) {
      // Unchanged: the file vouches again for what it says, held contents or a list still held back.
      if (this.heldSignature === signature) this.keeper.confirm(this.clock());
      else if (this.keeper.recheck(this.clock())) this.heldSignature = signature;
    }
    if (!entry.ok) throw entry.error;
    const t = this.clock();
    if (this.keeper.servable(t)) return this.keeper.serve();
    throw this.keeper.unservable(t);
  }

  status(): HostInfoStatus {
    return this.keeper.status(this.clock());
  }

  snapshotInfo(snapshot: HostSnapshot): SnapshotInfo | undefined {
    return this.keeper.info(snapshot, this.clock());
  }

  /** Reads and parses the file once per signature, and hands a valid list to the keeper (once, for every caller). */
  private async load(signature: string): Promise<Loaded> {
    let entry: Loaded;
    try {
      const text = await fsp.readFile(this.path, 'utf8');
      const hosts = parseInventoryText(text, this.path, true);
      const offered = this.keeper.offer(hosts, [], this.clock());
      if (offered.kind === 'refused') {
        entry = { signature, at: this.clock(), ok: false, error: offered.error };
      } else {
        entry = { signature, at: this.clock(), ok: true, hosts };
        if (offered.kind === 'accepted') this.heldSignature = signature;
      }
    } catch (error) {
      const e = isAdmissionError(error) ? error : this.readError(error);
      this.keeper.fail(e, this.clock());
      entry = { signature, at: this.clock(), ok: false, error: e };
    }
    this.loaded = entry;
    return entry;
  }

  private readError(error: unknown): AdmissionError {
    const code = (error as { code?: string }).code;
    const reason =
      code === 'ENOENT'
        ? 'the inventory file does not exist'
        : code === 'EACCES' || code === 'EPERM'
          ? 'the inventory file cannot be read (permission denied)'
          : code === 'EISDIR'
            ? 'is a directory, not an inventory file'
            : code === 'ENOTFILE'
              ? 'is not a regular file'
              : code === 'EFBIG'
                ? `the inventory file is larger than ${MAX_FILE_BYTES} bytes`
                : `the inventory file cannot be read: ${(error as Error).message}`;
    return new AdmissionError('AC_ERR_CONFIG', `${this.path}: ${reason}`, [{ field: this.path, reason }]);
  }
}
