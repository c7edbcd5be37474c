/**
 * The console's one script (a browser script, not a module: tsconfig.console.json — the only one with DOM types — compiles it to dist/gateway/console/console.js and
 * gateway/routes/console.ts serves it). It only calls the JSON API v1 with the token the user typed, so every role
 * rule is the API's. Everything from the service is written with textContent or as SVG/canvas drawing, never as
 * markup. The token lives in sessionStorage (this tab only) and travels only in the Authorization header.
 */
(() => {
  'use strict';

  // ------------------------------------------------------------------------------------------
  // Shapes of the API answers the console reads (gateway/routes/*).

  interface Totals {
    cpus: number;
    usedCpus: number;
    reservedCpus: number;
    freeCpus: number;
    memoryMb: number;
    usedMemoryMb: number;
    reservedMemoryMb: number;
    freeMemoryMb: number;
  }
  interface HostJson {
    id: string;
    cpus: number;
    usedCpus: number;
    memoryMb?: number;
    usedMemoryMb?: number;
    generation: number;
    reservedCpus: number;
    windowCpusDelta: number;
    freeCpus: number;
    reservedMemoryMb?: number;
    windowMemoryMbDelta?: number;
    freeMemoryMb?: number;
  }
  interface HostsAnswer {
    source: string;
    at: string;
    totals: Totals;
    hosts: HostJson[];
  }
  interface Reason {
    code: string;
    message: string;
  }
  interface ComponentJson {
    id: string;
    acceptedLocally: boolean;
    basicVms: number;
    maxVms: number;
    localVms: number;
    federatedVms: number;
    placements: { hostId: string; vms: number }[];
    reasons: Reason[];
  }
  interface ServiceAnswerJson {
    serviceId: string;
    decision: string;
    summary: string;
    admissionId: string | null;
    status: string | null;
    window: { start: string; end: string | null };
    holdExpiresAt: string | null;
    localVms: number;
    federatedVms: number;
    maxVms: number;
    components: ComponentJson[];
    uncheckedBounds?: { message: string }[];
    heldBy?: { admissionId: string; owner: string; serviceId: string; status: string; start: string; end: string | null; cpus: number; memoryMb: number; hosts: number }[];
    earliestFit?: { start: string | null; end: string | null; complete: boolean; horizonEnd: string };
  }
  interface AdmitAnswer {
    dryRun: boolean;
    recorded: boolean;
    degraded: { source: string; target: string; reason: string; fallback: number | string }[];
    errors?: { manifestIndex: number; error: { code: string; message: string } }[];
    services: ServiceAnswerJson[];
  }
  interface AdmissionJson {
    id: string;
    owner: string;
    serviceId: string;
    decision: string;
    status: string;
    start: string;
    end: string | null;
    holdExpiresAt: string;
    createdAt: string;
    confirmedAt?: string;
    closedAt?: string;
    hosts: { hostId: string; cpus: number; memoryMb: number }[];
    response?: { summary?: string; components?: ComponentJson[] };
    /** When it was confirmed with deployment on (AC_DEPLOY=opennebula). */
    deployment?: DeploymentJson;
  }
  interface DeploymentVmJson {
    slot: string;
    componentId: string;
    hostId: string;
    cpus: number;
    memoryMb: number;
    state: string;
    /** The OpenNebula VM id, once the VM exists. */
    vmId?: number;
    templateId?: number;
    error?: string;
  }
  interface DeploymentJson {
    target: string;
    status: string;
    attempts: number;
    /** OpenNebula's error of the last failed attempt. */
    error?: string;
    notBefore: string;
    updatedAt: string;
    generation: number;
    progress: { vms: number; deployed: number; pending: number; lost: number; removed?: number; terminating?: number; terminated: number };
    vms: DeploymentVmJson[];
  }
  interface WindowJson {
    id: string;
    hosts: string[];
    start: string;
    end: string | null;
    cpusDelta: number;
    memoryMbDelta: number;
    reason: string;
    createdBy: string;
  }
  interface EventJson {
    seq: number;
    type: string;
    at: string;
    owner: string | null;
    subject: string | null;
    data: unknown;
  }

  class ApiError extends Error {
    constructor(
      readonly status: number,
      message: string,
      readonly code: string,
    ) {
      super(message);
    }
    /** What the console shows: the service's own words, with its status and code. */
    describe(): string {
      return `${this.status} ${this.code}: ${this.message}`;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Session and API access

  const TOKEN_KEY = 'eac.console.token';
  const session = { token: null as string | null, open: false, started: false };

  function authHeaders(): Record<string, string> {
    return session.token ? { Authorization: `Bearer ${session.token}` } : {};
  }

  async function api<T>(method: string, path: string, body?: { json?: unknown; xml?: string }, signal?: AbortSignal): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json', ...authHeaders() };
    let payload: string | undefined;
    if (body?.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      payload = JSON.stringify(body.json);
    } else if (body?.xml !== undefined) {
      headers['Content-Type'] = 'application/xml';
      payload = body.xml;
    }
    let res: Response;
    try {
      res = await fetch(path, { method, headers, cache: 'no-store', credentials: 'omit', ...(payload !== undefined ? { body: payload } : {}), ...(signal ? { signal } : {}) });
    } catch (error) {
      throw new ApiError(0, `the service did not answer (${error instanceof Error ? error.message : String(error)})`, 'NETWORK');
    }
    const text = await res.text();
    let parsed: unknown = undefined;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!res.ok) {
      const e = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      if (res.status === 401 && session.started && !session.open) onUnauthorized(e?.message ?? 'the token is not valid');
      throw new ApiError(res.status, e?.message ?? (text.slice(0, 200) || res.statusText), e?.code ?? `HTTP_${res.status}`);
    }
    return parsed as T;
  }

  // ------------------------------------------------------------------------------------------
  // DOM helpers: text only

  const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
    const e = document.getElementById(id);
    if (!e) throw new Error(`missing element #${id}`);
    return e as T;
  };

  type Child = Node | string | number | null | undefined | false;
  function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: { class?: string; title?: string; data?: Record<string, string> } = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
    const e = document.createElement(tag);
    if (props.class) e.className = props.class;
    if (props.title) e.title = props.title;
    for (const [k, v] of Object.entries(props.data ?? {})) e.dataset[k] = v;
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      e.append(typeof c === 'object' ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  function clear(e: Element): void {
    e.replaceChildren();
  }

  function setText(id: string, text: string, cls?: string): void {
    const e = $(id);
    e.textContent = text;
    if (cls !== undefined) e.className = cls;
  }

  const num = (n: number | undefined): string => (n === undefined || !Number.isFinite(n) ? '–' : Number.isInteger(n) ? n.toLocaleString('en') : n.toLocaleString('en', { maximumFractionDigits: 2 }));

  function when(isoText: string | null | undefined): string {
    if (!isoText) return 'open';
    const d = new Date(isoText);
    if (Number.isNaN(d.getTime())) return isoText;
    return d.toISOString().replace('T', ' ').replace(/:\d\d\.\d{3}Z$/, 'Z');
  }

  /** A <dl> of [label, value, field] rows; `field` becomes data-field on the value (tests and scripts read it). */
  function dl(rows: readonly (readonly [string, string, string?])[]): HTMLDListElement {
    const list = h('dl');
    for (const [label, value, field] of rows) {
      list.append(h('dt', {}, label), h('dd', field ? { data: { field } } : {}, value));
    }
    return list;
  }

  function reasonList(reasons: readonly Reason[]): HTMLUListElement {
    const ul = h('ul', { class: 'reasons' });
    for (const r of reasons) ul.append(h('li', {}, r.message, ' ', h('span', { class: 'code' }, `(${r.code})`)));
    return ul;
  }

  // ------------------------------------------------------------------------------------------
  // Views and navigation

  const VIEWS = ['hosts', 'admissions', 'decisions', 'timeline', 'admit', 'settings', 'events', 'health'] as const;
  type View = (typeof VIEWS)[number];
  let current: View = 'hosts';
  const loaded = new Set<View>();

  function viewFromHash(): View {
    const v = location.hash.replace(/^#/, '');
    return (VIEWS as readonly string[]).includes(v) ? (v as View) : 'hosts';
  }

  function show(view: View): void {
    current = view;
    for (const v of VIEWS) $(`view-${v}`).hidden = v !== view;
    for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>('#nav a'))) a.classList.toggle('active', a.dataset.view === view);
    if (!loaded.has(view)) void load(view);
  }

  async function load(view: View): Promise<void> {
    loaded.add(view);
    switch (view) {
      case 'hosts':
        return loadHosts();
      case 'admissions':
        return loadAdmissions();
      case 'decisions':
        return loadDecisions();
      case 'timeline':
        return loadTimeline();
      case 'settings':
        return loadSettings();
      case 'health':
        return loadHealth();
      case 'admit':
      case 'events':
        return;
    }
  }

  /** After events: what the views show may have moved. Bursts of events cost one reload (at most one a second). */
  let refreshTimer: number | undefined;
  function scheduleRefresh(): void {
    if (refreshTimer !== undefined) return;
    refreshTimer = window.setTimeout(() => {
      refreshTimer = undefined;
      // Settings stay as they are: an operator's unsaved edits are not overwritten because of someone else's event.
      const keep = loaded.has('settings');
      loaded.clear();
      loaded.add('events');
      loaded.add('admit');
      if (keep) loaded.add('settings');
      if (!loaded.has(current)) void load(current);
    }, 1000);
  }

  // ------------------------------------------------------------------------------------------
  // Hosts: totals, one canvas (one cell per host), per-group table, one host's numbers

  let hostsData: HostsAnswer | null = null;
  let selectedHost: string | null = null;
  const layout = { cell: 12, gap: 2, cols: 1 };

  const maintCpus = (x: HostJson): number => Math.max(0, -x.windowCpusDelta);
  const maintMem = (x: HostJson): number => Math.max(0, -(x.windowMemoryMbDelta ?? 0));

  async function loadHosts(): Promise<void> {
    setText('hosts-status', 'loading…', 'status');
    try {
      hostsData = await api<HostsAnswer>('GET', '/api/v1/hosts');
      setText('hosts-status', `${num(hostsData.hosts.length)} hosts from ${hostsData.source}, as of ${when(hostsData.at)}`, 'status');
      renderHosts();
    } catch (error) {
      hostsData = null;
      setText('hosts-status', error instanceof ApiError ? error.describe() : String(error), 'error');
      clear($('hosts-totals'));
      drawHeatmap();
    }
  }

  function renderHosts(): void {
    const data = hostsData;
    if (!data) return;
    const t = data.totals;
    const maintenanceCpus = data.hosts.reduce((s, x) => s + maintCpus(x), 0);
    const maintenanceMem = data.hosts.reduce((s, x) => s + maintMem(x), 0);
    const inMaintenance = data.hosts.filter((x) => x.windowCpusDelta < 0 || (x.windowMemoryMbDelta ?? 0) < 0).length;
    const totals = $('hosts-totals');
    clear(totals);
    totals.append(
      h('div', {}, h('h3', {}, 'CPUs'), dl([
        ['total', num(t.cpus), 'total-cpus'],
        ['used (outside the ledger)', num(t.usedCpus), 'total-usedCpus'],
        ['reserved (admissions)', num(t.reservedCpus), 'total-reservedCpus'],
        ['in maintenance', num(maintenanceCpus), 'total-maintenanceCpus'],
        ['free', num(t.freeCpus), 'total-freeCpus'],
      ])),
      h('div', {}, h('h3', {}, 'Memory (MB)'), dl([
        ['total', num(t.memoryMb), 'total-memoryMb'],
        ['used (outside the ledger)', num(t.usedMemoryMb), 'total-usedMemoryMb'],
        ['reserved (admissions)', num(t.reservedMemoryMb), 'total-reservedMemoryMb'],
        ['in maintenance', num(maintenanceMem), 'total-maintenanceMemoryMb'],
        ['free', num(t.freeMemoryMb), 'total-freeMemoryMb'],
      ])),
      h('div', {}, h('h3', {}, 'Hosts'), dl([
        ['hosts', num(data.hosts.length), 'total-hosts'],
        ['in maintenance', num(inMaintenance), 'total-hostsInMaintenance'],
        ['without free CPU', num(data.hosts.filter((x) => x.freeCpus <= 0).length), 'total-hostsFull'],
      ])),
    );
    // The datalist helps finding a host; thousands of <option>s are cheap but useless, so only a few hundred.
    const ids = $('hosts-ids');
    clear(ids);
    for (const x of data.hosts.slice(0, 500)) ids.append(h('option', {}, x.id));
    drawHeatmap();
    renderGroups();
    renderHostDetail();
  }

  /** Share of a host taken (0 free … 1 full) for the chosen metric; null when the host does not report it. */
  function taken(x: HostJson, metric: string): number | null {
    if (metric === 'memory') {
      if (x.memoryMb === undefined || x.freeMemoryMb === undefined) return null;
      const cap = x.memoryMb + Math.max(0, x.windowMemoryMbDelta ?? 0);
      return cap <= 0 ? 1 : Math.min(1, Math.max(0, 1 - x.freeMemoryMb / cap));
    }
    const cap = x.cpus + Math.max(0, x.windowCpusDelta);
    return cap <= 0 ? 1 : Math.min(1, Math.max(0, 1 - x.freeCpus / cap));
  }

  /** green (free) → amber (half) → red (full). */
  function colour(share: number): string {
    const free = [59, 156, 90];
    const half = [227, 179, 65];
    const full = [200, 65, 58];
    const [a, b, f] = share < 0.5 ? [free, half, share / 0.5] : [half, full, (share - 0.5) / 0.5];
    const mix = (i: number): number => Math.round(a[i]! + (b[i]! - a[i]!) * f);
    return `rgb(${mix(0)},${mix(1)},${mix(2)})`;
  }

  function drawHeatmap(): void {
    const canvas = $<HTMLCanvasElement>('hosts-canvas');
    const hosts = hostsData?.hosts ?? [];
    const width = Math.max(300, Math.min(1360, (canvas.parentElement?.clientWidth ?? 960) - 4));
    layout.cell = hosts.length <= 100 ? 28 : hosts.length <= 1000 ? 14 : 9;
    layout.gap = hosts.length <= 1000 ? 2 : 1;
    const step = layout.cell + layout.gap;
    layout.cols = Math.max(1, Math.floor(width / step));
    const rows = Math.max(1, Math.ceil(hosts.length / layout.cols));
    const ratio = window.devicePixelRatio || 1;
    canvas.style.width = `${width}px`;
    canvas.style.height = 'auto'; // follows the width (and max-width: 100%) at the drawing's aspect ratio
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round((rows * step + layout.gap) * ratio);
    const g = canvas.getContext('2d');
    if (!g) return;
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, rows * step + layout.gap);
    const metric = $<HTMLSelectElement>('hosts-metric').value;
    for (let i = 0; i < hosts.length; i++) {
      const x = hosts[i]!;
      const px = layout.gap + (i % layout.cols) * step;
      const py = layout.gap + Math.floor(i / layout.cols) * step;
      const share = taken(x, metric);
      g.fillStyle = share === null ? '#c9cdd2' : colour(share);
      g.fillRect(px, py, layout.cell, layout.cell);
      const maintenance = metric === 'memory' ? maintMem(x) > 0 : maintCpus(x) > 0;
      if (maintenance) {
        g.strokeStyle = '#2f6fd6';
        g.lineWidth = layout.cell >= 14 ? 3 : 2;
        g.strokeRect(px + 1, py + 1, layout.cell - 2, layout.cell - 2);
      }
      if (x.id === selectedHost) {
        g.strokeStyle = '#000';
        g.lineWidth = 2;
        g.strokeRect(px - 1, py - 1, layout.cell + 2, layout.cell + 2);
      }
    }
  }

  function hostAt(event: MouseEvent): HostJson | undefined {
    const canvas = $<HTMLCanvasElement>('hosts-canvas');
    const box = canvas.getBoundingClientRect();
    // The canvas may be drawn narrower than its layout width (max-width: 100%): map back to layout pixels.
    const scale = box.width > 0 ? (parseFloat(canvas.style.width) || box.width) / box.width : 1;
    const step = layout.cell + layout.gap;
    const col = Math.floor(((event.clientX - box.left) * scale - layout.gap / 2) / step);
    const row = Math.floor(((event.clientY - box.top) * scale - layout.gap / 2) / step);
    if (col < 0 || col >= layout.cols || row < 0) return undefined;
    return hostsData?.hosts[row * layout.cols + col];
  }

  function selectHost(id: string | null): void {
    selectedHost = id;
    drawHeatmap();
    renderHostDetail();
  }

  function renderHostDetail(): void {
    const box = $('host-detail');
    clear(box);
    if (selectedHost === null || !hostsData) return;
    const x = hostsData.hosts.find((y) => y.id === selectedHost);
    if (!x) {
      box.append(h('p', { class: 'error' }, `no host '${selectedHost}' in the current list`));
      return;
    }
    box.append(
      h('h3', { data: { field: 'host-id' } }, x.id),
      h('div', { class: 'totals' },
        h('div', {}, h('h3', {}, 'CPUs'), dl([
          ['total', num(x.cpus), 'cpus'],
          ['used (outside the ledger)', num(x.usedCpus), 'usedCpus'],
          ['reserved (admissions)', num(x.reservedCpus), 'reservedCpus'],
          ['in maintenance', num(maintCpus(x)), 'maintenanceCpus'],
          ...(x.windowCpusDelta > 0 ? [['capacity added', num(x.windowCpusDelta), 'addedCpus'] as const] : []),
          ['free', num(x.freeCpus), 'freeCpus'],
        ])),
        h('div', {}, h('h3', {}, 'Memory (MB)'), x.memoryMb === undefined ? h('p', {}, 'not reported by the host source') : dl([
          ['total', num(x.memoryMb), 'memoryMb'],
          ['used (outside the ledger)', num(x.usedMemoryMb), 'usedMemoryMb'],
          ['reserved (admissions)', num(x.reservedMemoryMb), 'reservedMemoryMb'],
          ['in maintenance', num(maintMem(x)), 'maintenanceMemoryMb'],
          ['free', num(x.freeMemoryMb), 'freeMemoryMb'],
        ])),
        h('div', {}, h('h3', {}, 'Ledger'), dl([['generation', num(x.generation), 'generation']])),
      ),
    );
  }

  const groupOf = (id: string): string => id.replace(/[-_.:]?\d+$/, '') || id;

  function renderGroups(): void {
    const body = $('groups-table').querySelector('tbody')!;
    clear(body);
    if (!hostsData) return;
    interface Sum { hosts: number; cpus: number; used: number; reserved: number; maint: number; free: number; mem: number; memUsed: number; memReserved: number; memMaint: number; memFree: number }
    const groups = new Map<string, Sum>();
    for (const x of hostsData.hosts) {
      const key = groupOf(x.id);
      let s = groups.get(key);
      if (!s) groups.set(key, (s = { hosts: 0, cpus: 0, used: 0, reserved: 0, maint: 0, free: 0, mem: 0, memUsed: 0, memReserved: 0, memMaint: 0, memFree: 0 }));
      s.hosts++;
      s.cpus += x.cpus;
      s.used += x.usedCpus;
      s.reserved += x.reservedCpus;
      s.maint += maintCpus(x);
      s.free += x.freeCpus;
      s.mem += x.memoryMb ?? 0;
      s.memUsed += x.usedMemoryMb ?? 0;
      s.memReserved += x.reservedMemoryMb ?? 0;
      s.memMaint += maintMem(x);
      s.memFree += x.freeMemoryMb ?? 0;
    }
    const keys = [...groups.keys()].sort();
    const LIMIT = 200;
    for (const key of keys.slice(0, LIMIT)) {
      const s = groups.get(key)!;
      const cells = [s.hosts, s.cpus, s.used, s.reserved, s.maint, s.free, s.mem, s.memUsed, s.memReserved, s.memMaint, s.memFree].map((n) => h('td', { class: 'num' }, num(n)));
      body.append(h('tr', { data: { group: key } }, h('td', {}, key), ...cells));
    }
    if (keys.length > LIMIT) body.append(h('tr', {}, h('td', {}, `… and ${keys.length - LIMIT} more groups`)));
  }

  // ------------------------------------------------------------------------------------------
  // Admissions: filtered, paged with the API's cursor; one admission's every reason

  const admPaging = { cursors: [null] as (string | null)[], index: 0, next: null as string | null };
  let selectedAdmission: string | null = null;

  function admissionQuery(): string {
    const q = new URLSearchParams();
    const status = $<HTMLSelectElement>('adm-status').value;
    if (status === 'active') q.set('active', 'true');
    else if (status === 'active-only') q.set('status', 'active');
    else if (status !== '') q.set('status', status);
    const owner = $<HTMLInputElement>('adm-owner').value.trim();
    if (owner) q.set('owner', owner);
    const service = $<HTMLInputElement>('adm-service').value.trim();
    if (service) q.set('serviceId', service);
    q.set('limit', $<HTMLSelectElement>('adm-limit').value);
    const cursor = admPaging.cursors[admPaging.index];
    if (cursor) q.set('cursor', cursor);
    return q.toString();
  }

  async function loadAdmissions(): Promise<void> {
    setText('adm-status-line', 'loading…', 'status');
    const body = $('adm-table').querySelector('tbody')!;
    try {
      const page = await api<{ admissions: AdmissionJson[]; nextCursor: string | null }>('GET', `/api/v1/admissions?${admissionQuery()}`);
      admPaging.next = page.nextCursor;
      clear(body);
      for (const a of page.admissions) {
        const cpus = a.hosts.reduce((s, x) => s + x.cpus, 0);
        const row = h('tr', { class: 'selectable', data: { id: a.id } },
          h('td', { class: 'code' }, a.id),
          h('td', {}, a.serviceId),
          h('td', {}, a.owner),
          h('td', {}, a.status),
          h('td', { class: `decision-${a.decision}` }, a.decision),
          h('td', {}, `${when(a.start)} → ${when(a.end)}`),
          h('td', { class: 'num' }, num(a.hosts.length)),
          h('td', { class: 'num' }, num(cpus)),
          h('td', {}, when(a.createdAt)),
        );
        if (a.id === selectedAdmission) row.classList.add('selected');
        row.addEventListener('click', () => void showAdmission(a.id));
        body.append(row);
      }
      const first = admPaging.index * Number($<HTMLSelectElement>('adm-limit').value);
      setText('adm-status-line', page.admissions.length === 0 ? 'no admissions match' : `admissions ${num(first + 1)}–${num(first + page.admissions.length)}${page.nextCursor ? ' (more on the next page)' : ''}`, 'status');
      setText('adm-page', `page ${admPaging.index + 1}`);
      $<HTMLButtonElement>('adm-prev').disabled = admPaging.index === 0;
      $<HTMLButtonElement>('adm-next').disabled = page.nextCursor === null;
      if (selectedAdmission) void showAdmission(selectedAdmission);
    } catch (error) {
      clear(body);
      setText('adm-status-line', error instanceof ApiError ? error.describe() : String(error), 'error');
    }
  }

  async function showAdmission(id: string): Promise<void> {
    selectedAdmission = id;
    for (const tr of Array.from(document.querySelectorAll<HTMLTableRowElement>('#adm-table tbody tr'))) tr.classList.toggle('selected', tr.dataset.id === id);
    const box = $('adm-detail');
    try {
      const a = await api<AdmissionJson>('GET', `/api/v1/admissions/${encodeURIComponent(id)}`);
      clear(box);
      box.append(
        h('h3', {}, `${a.serviceId} — `, h('span', { class: `decision-${a.decision}` }, a.decision), ` — ${a.status}`),
        dl([
          ['admission', a.id, 'id'],
          ['owner', a.owner, 'owner'],
          ['window', `${when(a.start)} → ${when(a.end)}`, 'window'],
          ['hold expires', a.status === 'held' ? when(a.holdExpiresAt) : '–', 'holdExpiresAt'],
          ['created', when(a.createdAt), 'createdAt'],
          ...(a.confirmedAt ? [['confirmed', when(a.confirmedAt), 'confirmedAt'] as const] : []),
          ...(a.closedAt ? [['closed', when(a.closedAt), 'closedAt'] as const] : []),
          ['hosts', a.hosts.map((x) => `${x.hostId} (${num(x.cpus)} CPUs, ${num(x.memoryMb)} MB)`).join(', ') || 'none', 'hosts'],
        ]),
      );
      const actions = h('div', { class: 'toolbar' });
      if (a.status === 'held') actions.append(actionButton('adm-confirm', 'Confirm (keep the offer)', () => api('POST', `/api/v1/admissions/${encodeURIComponent(a.id)}/confirm`)));
      if (a.status === 'held' || a.status === 'confirmed' || a.status === 'active') {
        actions.append(actionButton('adm-release', 'Release', () => api('DELETE', `/api/v1/admissions/${encodeURIComponent(a.id)}`), `Release ${a.serviceId} (${a.id})? Its capacity is freed at once.`));
      }
      actions.append(h('span', { class: 'result' }));
      if (actions.querySelector('button')) box.append(actions);
      if (a.deployment) box.append(deploymentBlock(a.id, a.deployment));
      if (a.response?.summary) box.append(h('p', {}, a.response.summary));
      for (const c of a.response?.components ?? []) box.append(componentBlock(c));
    } catch (error) {
      clear(box);
      box.append(h('p', { class: 'error' }, error instanceof ApiError ? error.describe() : String(error)));
    }
  }

  /** At most this many VM rows (a deployment may have thousands); the rest are counted. */
  const MAX_VM_ROWS = 500;

  /** Where the admission's VMs stand in the cloud: status, attempts, the last error, progress, one row per VM slot. */
  function deploymentBlock(admissionId: string, d: DeploymentJson): HTMLElement {
    const p = d.progress;
    const dot = d.status === 'deployed' && p.lost === 0 ? 'ok-dot' : d.status === 'deploy_failed' || p.lost > 0 ? 'bad-dot' : d.status === 'terminated' ? '' : 'warn-dot';
    const block = h('div', { class: 'deployment', data: { section: 'deployment' } },
      h('h3', {}, 'Deployment'),
      h('p', { class: dot, data: { field: 'deployment-status' } }, d.status),
      dl([
        ['target', d.target, 'deployment-target'],
        ['attempts', num(d.attempts), 'deployment-attempts'],
        ...(d.error !== undefined ? [['last error', d.error, 'deployment-error'] as const] : []),
        ['progress', `${num(p.deployed)} of ${num(p.vms)} VMs deployed, ${num(p.pending)} pending, ${num(p.lost)} lost, ${num(p.removed ?? 0)} removed, ${num(p.terminated)} terminated${(p.terminating ?? 0) > 0 ? `, ${num(p.terminating ?? 0)} shutting down` : ''}`, 'deployment-progress'],
        ['not before', when(d.notBefore), 'deployment-notBefore'],
        ['updated', when(d.updatedAt), 'deployment-updatedAt'],
      ]),
    );
    if (d.status === 'deploy_failed') {
      const actions = h('div', { class: 'toolbar' });
      actions.append(actionButton('adm-deploy', 'Retry deployment', () => api('POST', `/api/v1/admissions/${encodeURIComponent(admissionId)}/deploy`)), h('span', { class: 'result' }));
      block.append(actions);
    }
    if (d.vms.length > 0) {
      const head = h('tr', {}, h('th', {}, 'Slot'), h('th', {}, 'Component'), h('th', {}, 'Host'), h('th', {}, 'State'), h('th', {}, 'OpenNebula VM id'), h('th', {}, 'Error'));
      const body = h('tbody');
      for (const v of d.vms.slice(0, MAX_VM_ROWS)) {
        body.append(h('tr', { class: `vm-${v.state}`, data: { slot: v.slot } },
          h('td', { class: 'code' }, v.slot),
          h('td', {}, v.componentId),
          h('td', {}, v.hostId),
          h('td', { data: { field: 'state' } }, v.state),
          h('td', { class: 'num', data: { field: 'vmId' } }, v.vmId === undefined ? '–' : String(v.vmId)),
          h('td', { class: 'error-text' }, v.error ?? ''),
        ));
      }
      if (d.vms.length > MAX_VM_ROWS) body.append(h('tr', {}, h('td', {}, `… and ${num(d.vms.length - MAX_VM_ROWS)} more VMs`)));
      block.append(h('table', { class: 'grid vms' }, h('thead', {}, head), body));
    }
    return block;
  }

  /** A button that changes state through the API; the answer (or the refusal) is written next to it. */
  function actionButton(id: string, label: string, run: () => Promise<unknown>, question?: string): HTMLButtonElement {
    const button = h('button', { data: { action: id } }, label);
    button.type = 'button';
    button.id = id;
    button.addEventListener('click', () => {
      if (question && !window.confirm(question)) return;
      const out = button.parentElement?.querySelector('.result');
      button.disabled = true;
      run().then(
        () => {
          loaded.delete('admissions');
          void load('admissions');
        },
        (error: unknown) => {
          button.disabled = false;
          if (out) {
            out.textContent = error instanceof ApiError ? error.describe() : String(error);
            out.className = 'result error';
          }
        },
      );
    });
    return button;
  }

  function componentBlock(c: ComponentJson): HTMLElement {
    const placed = c.placements.map((p) => `${p.hostId} × ${p.vms}`).join(', ');
    return h('div', { class: 'component', data: { component: c.id } },
      h('p', {}, h('strong', {}, c.id), `: ${c.acceptedLocally ? 'accepted locally' : 'not accepted locally'}, ${num(c.localVms)} of ${num(c.maxVms)} VMs here (basic ${num(c.basicVms)})${c.federatedVms ? `, ${num(c.federatedVms)} federated` : ''}${placed ? ` — on ${placed}` : ''}`),
      c.reasons.length ? reasonList(c.reasons) : h('p', { class: 'hint' }, 'fully admitted: no reasons'),
    );
  }

  // ------------------------------------------------------------------------------------------
  // Decisions: the decision log (every answer, rejections and dry runs included), paged with its cursor

  interface DecisionJson {
    id: string;
    at: string;
    owner: string;
    serviceId: string;
    admissionId: string | null;
    decision: string;
    dryRun: boolean;
    reasons: string[];
    durationMs: number;
    detail: {
      summary?: string;
      window?: { start: string; end: string | null };
      components?: { id: string; localVms: number; maxVms: number; federatedVms: number; placements: { hostId: string; vms: number }[]; reasons: Reason[] }[];
      heldBy?: ServiceAnswerJson['heldBy'];
      earliestFit?: ServiceAnswerJson['earliestFit'];
    };
  }
  const decPaging = { cursors: [null] as (string | null)[], index: 0, next: null as string | null };

  async function loadDecisions(): Promise<void> {
    const q = new URLSearchParams();
    const decision = $<HTMLSelectElement>('dec-decision').value;
    if (decision) q.set('decision', decision);
    const owner = $<HTMLInputElement>('dec-owner').value.trim();
    if (owner) q.set('owner', owner);
    const service = $<HTMLInputElement>('dec-service').value.trim();
    if (service) q.set('serviceId', service);
    const limit = Number($<HTMLSelectElement>('dec-limit').value);
    q.set('limit', String(limit));
    const cursor = decPaging.cursors[decPaging.index];
    if (cursor) q.set('cursor', cursor);
    setText('dec-status-line', 'loading…', 'status');
    const body = $('dec-table').querySelector('tbody')!;
    try {
      const page = await api<{ decisions: DecisionJson[]; nextCursor: string | null }>('GET', `/api/v1/decisions?${q.toString()}`);
      decPaging.next = page.nextCursor;
      clear(body);
      for (const d of page.decisions) {
        const row = h('tr', { class: 'selectable', data: { id: d.id } },
          h('td', {}, when(d.at)),
          h('td', {}, d.serviceId),
          h('td', {}, d.owner),
          h('td', { class: `decision-${d.decision}` }, d.decision),
          h('td', {}, d.dryRun ? 'yes' : 'no'),
          h('td', { class: 'code' }, d.reasons.join(', ')),
          h('td', { class: 'num' }, num(d.durationMs)),
          h('td', { class: 'code' }, d.admissionId ?? '–'),
        );
        row.addEventListener('click', () => showDecision(d, row));
        body.append(row);
      }
      const first = decPaging.index * limit;
      setText('dec-status-line', page.decisions.length === 0 ? 'no decisions match' : `decisions ${num(first + 1)}–${num(first + page.decisions.length)}${page.nextCursor ? ' (more on the next page)' : ''}`, 'status');
      setText('dec-page', `page ${decPaging.index + 1}`);
      $<HTMLButtonElement>('dec-prev').disabled = decPaging.index === 0;
      $<HTMLButtonElement>('dec-next').disabled = page.nextCursor === null;
    } catch (error) {
      clear(body);
      setText('dec-status-line', error instanceof ApiError ? error.describe() : String(error), 'error');
    }
  }

  function showDecision(d: DecisionJson, row: HTMLTableRowElement): void {
    for (const tr of Array.from(document.querySelectorAll<HTMLTableRowElement>('#dec-table tbody tr'))) tr.classList.toggle('selected', tr === row);
    const box = $('dec-detail');
    clear(box);
    box.append(
      h('h3', {}, `${d.serviceId} — `, h('span', { class: `decision-${d.decision}` }, d.decision), d.dryRun ? ' (dry run)' : ''),
      dl([
        ['decision', d.id, 'id'],
        ['owner', d.owner, 'owner'],
        ['at', when(d.at), 'at'],
        ['window', d.detail.window ? `${when(d.detail.window.start)} → ${when(d.detail.window.end)}` : '–', 'window'],
        ['admission', d.admissionId ?? 'none recorded', 'admissionId'],
      ]),
    );
    if (d.detail.summary) box.append(h('p', {}, d.detail.summary));
    for (const c of d.detail.components ?? []) {
      const placed = c.placements.map((p) => `${p.hostId} × ${p.vms}`).join(', ');
      box.append(
        h('p', {}, h('strong', {}, c.id), `: ${num(c.localVms)} of ${num(c.maxVms)} VMs here${c.federatedVms ? `, ${num(c.federatedVms)} federated` : ''}${placed ? ` — on ${placed}` : ''}`),
        c.reasons.length ? reasonList(c.reasons) : h('p', { class: 'hint' }, 'fully admitted: no reasons'),
      );
    }
    for (const x of d.detail.heldBy ?? []) box.append(h('p', {}, `held by ${x.serviceId} (${x.owner}, ${x.status}): ${num(x.cpus)} CPUs, ${num(x.memoryMb)} MB on ${num(x.hosts)} hosts`));
  }

  // ------------------------------------------------------------------------------------------
  // Timeline: reservations and capacity windows over the coming hours, as SVG bars

  const SVG = 'http://www.w3.org/2000/svg';
  function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  async function loadTimeline(): Promise<void> {
    const hours = Number($<HTMLSelectElement>('tl-range').value);
    const from = Date.now();
    const to = from + hours * 3600_000;
    const range = `from=${encodeURIComponent(new Date(from).toISOString())}&to=${encodeURIComponent(new Date(to).toISOString())}`;
    setText('tl-status', 'loading…', 'status');
    const chart = $('tl-chart');
    const LIMIT = 200;
    const [adm, win] = await Promise.allSettled([
      api<{ admissions: AdmissionJson[]; nextCursor: string | null }>('GET', `/api/v1/admissions?active=true&limit=${LIMIT}&${range}`),
      api<{ windows: WindowJson[] }>('GET', `/api/v1/capacity/windows?${range}`),
    ]);
    const notes: string[] = [];
    const admissions = adm.status === 'fulfilled' ? adm.value.admissions : [];
    if (adm.status === 'rejected') notes.push(`admissions: ${adm.reason instanceof ApiError ? adm.reason.describe() : String(adm.reason)}`);
    else if (adm.value.nextCursor) notes.push(`showing the first ${LIMIT} reservations; narrow the range or use the Admissions view for the rest`);
    const windows = win.status === 'fulfilled' ? win.value.windows.slice(0, LIMIT) : [];
    if (win.status === 'rejected') notes.push(`capacity windows: ${win.reason instanceof ApiError ? win.reason.describe() : String(win.reason)}`);
    setText('tl-status', `${num(admissions.length)} reservations and ${num(windows.length)} capacity windows between ${when(new Date(from).toISOString())} and ${when(new Date(to).toISOString())}${notes.length ? ` — ${notes.join('; ')}` : ''}`, notes.length && (adm.status === 'rejected' || win.status === 'rejected') ? 'error' : 'status');

    const width = Math.max(600, Math.min(1360, chart.clientWidth || 1000));
    const label = 260;
    const rowH = 18;
    const top = 24;
    const rows = admissions.length + windows.length + (windows.length ? 1 : 0);
    const height = top + Math.max(1, rows) * rowH + 8;
    const x = (t: number): number => label + ((Math.min(Math.max(t, from), to) - from) / (to - from)) * (width - label - 10);
    const root = svg('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'timeline of reservations and capacity windows' });
    for (let i = 0; i <= 6; i++) {
      const t = from + ((to - from) * i) / 6;
      root.append(svg('line', { x1: x(t), x2: x(t), y1: top - 6, y2: height, class: 'axis' }));
      root.append(svg('text', { x: i === 6 ? x(t) - 2 : x(t) + 2, y: 12, ...(i === 6 ? { 'text-anchor': 'end' } : {}) }, new Date(t).toISOString().slice(5, 16).replace('T', ' ')));
    }
    let y = top;
    const bar = (start: string, end: string | null, fill: string, title: string, text: string, stroke?: string): void => {
      const x1 = x(Date.parse(start));
      const x2 = end === null ? x(to) : x(Date.parse(end));
      const g = svg('g', {});
      g.append(svg('title', {}, title));
      g.append(svg('text', { x: 4, y: y + 13 }, text.length > 42 ? `${text.slice(0, 41)}…` : text));
      g.append(svg('rect', { x: x1, y: y + 3, width: Math.max(2, x2 - x1), height: rowH - 6, fill, ...(stroke ? { stroke, 'stroke-width': 2 } : {}) }));
      root.append(g);
      y += rowH;
    };
    for (const a of admissions) {
      const cpus = a.hosts.reduce((s, h2) => s + h2.cpus, 0);
      bar(a.start, a.end, a.status === 'held' ? '#e3b341' : '#3b7dd8', `${a.serviceId} (${a.owner}) ${a.status}, ${cpus} CPUs on ${a.hosts.length} hosts, ${when(a.start)} → ${when(a.end)}`, `${a.serviceId} · ${a.owner} · ${cpus} CPUs`);
    }
    if (windows.length) {
      root.append(svg('text', { x: 4, y: y + 13 }, 'capacity windows'));
      y += rowH;
      for (const w of windows) {
        const adds = w.cpusDelta > 0 || w.memoryMbDelta > 0;
        bar(w.start, w.end, adds ? '#3b9c5a' : '#ffffff', `${w.reason}: ${w.cpusDelta} CPUs, ${w.memoryMbDelta} MB on ${w.hosts.join(', ')} (${w.createdBy}), ${when(w.start)} → ${when(w.end)}`, `${w.reason} · ${w.hosts.length} hosts · ${w.cpusDelta} CPUs`, adds ? undefined : '#2f6fd6');
      }
    }
    if (rows === 0) root.append(svg('text', { x: label, y: top + 13 }, 'nothing reserved and no capacity windows in this range'));
    clear(chart);
    chart.append(root);
  }

  // ------------------------------------------------------------------------------------------
  // Try an admission (dry run by default): the answer with every reason

  async function submitAdmission(): Promise<void> {
    const box = $('admit-answer');
    const xml = $<HTMLTextAreaElement>('admit-xml').value;
    clear(box);
    if (xml.trim() === '') {
      box.append(h('p', { class: 'error' }, 'paste a service manifest first'));
      return;
    }
    const q = new URLSearchParams();
    if ($<HTMLInputElement>('admit-dry').checked) q.set('dryRun', 'true');
    const start = $<HTMLInputElement>('admit-start').value.trim();
    const end = $<HTMLInputElement>('admit-end').value.trim();
    if (start) q.set('start', start);
    if (end) q.set('end', end);
    box.append(h('p', { class: 'status' }, 'asking…'));
    try {
      const answer = await api<AdmitAnswer>('POST', `/api/v1/admissions?${q.toString()}`, { xml });
      clear(box);
      box.append(h('p', { data: { field: 'recorded' } }, answer.dryRun ? 'Dry run: nothing was recorded.' : answer.recorded ? 'Recorded: the capacity is held (confirm it to keep it).' : 'Nothing was recorded.'));
      for (const e of answer.errors ?? []) box.append(h('p', { class: 'error' }, `manifest ${e.manifestIndex + 1}: ${e.error.code}: ${e.error.message}`));
      for (const s of answer.services) box.append(serviceBlock(s));
      if (answer.degraded.length) {
        const ul = h('ul', { class: 'reasons' });
        for (const d of answer.degraded) ul.append(h('li', {}, `${d.source} of ${d.target}: ${d.reason} (used ${d.fallback})`));
        box.append(h('h3', {}, 'Values from fallbacks'), ul);
      }
      if (!answer.dryRun) scheduleRefresh();
    } catch (error) {
      clear(box);
      box.append(h('p', { class: 'error' }, error instanceof ApiError ? error.describe() : String(error)));
    }
  }

  function serviceBlock(s: ServiceAnswerJson): HTMLElement {
    const block = h('div', { class: 'service', data: { service: s.serviceId } },
      h('h3', {}, `${s.serviceId}: `, h('span', { class: `decision-${s.decision}`, data: { field: 'decision' } }, s.decision)),
      h('p', {}, s.summary),
      dl([
        ['VMs here', `${num(s.localVms)} of ${num(s.maxVms)}${s.federatedVms ? ` (${num(s.federatedVms)} federated)` : ''}`],
        ['window', `${when(s.window.start)} → ${when(s.window.end)}`],
        ...(s.admissionId ? [['admission', `${s.admissionId} (${s.status ?? ''}, hold until ${when(s.holdExpiresAt)})`] as const] : []),
      ]),
    );
    for (const c of s.components) block.append(componentBlock(c));
    if (s.uncheckedBounds?.length) {
      block.append(h('p', {}, 'Bounds nobody could check:'), reasonList(s.uncheckedBounds.map((b) => ({ code: 'UNCHECKED_BOUND', message: b.message }))));
    }
    if (s.heldBy?.length) {
      const ul = h('ul', { class: 'reasons' });
      for (const x of s.heldBy) ul.append(h('li', {}, `${x.serviceId} (${x.owner}, ${x.status}) holds ${num(x.cpus)} CPUs and ${num(x.memoryMb)} MB on ${num(x.hosts)} hosts, ${when(x.start)} → ${when(x.end)}`, ' ', h('span', { class: 'code' }, x.admissionId)));
      block.append(h('p', {}, 'Capacity in this window is held by:'), ul);
    }
    if (s.earliestFit) {
      const f = s.earliestFit;
      block.append(h('p', {}, f.start ? `It would fit from ${when(f.start)}${f.end ? ` to ${when(f.end)}` : ''}.` : `It fits at no start before ${when(f.horizonEnd)}${f.complete ? '' : ' (the search stopped early)'}.`));
    }
    return block;
  }

  // ------------------------------------------------------------------------------------------
  // Policy and default constraints

  const POLICY_KEYS = ['trust', 'eco', 'risk', 'cost'] as const;
  const generations: { policy?: number; constraints?: number } = {};

  function fill(prefix: string, values: Record<string, number> | undefined): void {
    for (const k of POLICY_KEYS) $<HTMLInputElement>(`${prefix}-${k}`).value = values && values[k] !== undefined ? String(values[k]) : '';
  }

  function readOnly(prefix: string, on: boolean): void {
    for (const k of POLICY_KEYS) $<HTMLInputElement>(`${prefix}-${k}`).readOnly = on;
    $<HTMLButtonElement>(`${prefix}-save`).disabled = on;
  }

  async function loadSettings(): Promise<void> {
    const [policy, constraints] = await Promise.allSettled([
      api<{ weights: Record<string, number>; generation: number; updatedAt: string }>('GET', '/api/v1/policy'),
      api<{ constraints: Record<string, number>; generation: number; updatedAt: string }>('GET', '/api/v1/constraints/default'),
    ]);
    if (policy.status === 'fulfilled') {
      generations.policy = policy.value.generation;
      fill('policy', policy.value.weights);
      setText('policy-status', `generation ${policy.value.generation}, updated ${when(policy.value.updatedAt)}`, 'status');
    } else {
      delete generations.policy;
      fill('policy', undefined);
      setText('policy-status', `cannot read the policy: ${policy.reason instanceof ApiError ? policy.reason.describe() : String(policy.reason)}`, 'error');
    }
    if (constraints.status === 'fulfilled') {
      generations.constraints = constraints.value.generation;
      fill('constraints', constraints.value.constraints);
      setText('constraints-status', `generation ${constraints.value.generation}, updated ${when(constraints.value.updatedAt)}`, 'status');
    } else {
      delete generations.constraints;
      fill('constraints', undefined);
      setText('constraints-status', `cannot read the constraints: ${constraints.reason instanceof ApiError ? constraints.reason.describe() : String(constraints.reason)}`, 'error');
    }
    updateSum();
  }

  function updateSum(): void {
    const sum = POLICY_KEYS.reduce((s, k) => s + (Number($<HTMLInputElement>(`policy-${k}`).value) || 0), 0);
    setText('policy-sum', `the weights sum to ${num(Math.round(sum * 1e6) / 1e6)} (they must sum to 1)`, 'hint');
  }

  async function save(kind: 'policy' | 'constraints'): Promise<void> {
    const values: Record<string, number> = {};
    for (const k of POLICY_KEYS) values[k] = Number($<HTMLInputElement>(`${kind}-${k}`).value);
    const generation = generations[kind];
    const body = kind === 'policy' ? { weights: values } : { constraints: values };
    const result = `${kind}-result`;
    setText(result, 'saving…', 'result');
    try {
      const saved = await api<{ generation: number; updatedAt: string }>('PUT', kind === 'policy' ? '/api/v1/policy' : '/api/v1/constraints/default', { json: generation === undefined ? body : { ...body, generation } });
      generations[kind] = saved.generation;
      setText(result, `saved: generation ${saved.generation}`, 'result ok');
      setText(`${kind}-status`, `generation ${saved.generation}, updated ${when(saved.updatedAt)}`, 'status');
    } catch (error) {
      const message = error instanceof ApiError ? error.describe() : String(error);
      if (error instanceof ApiError && error.status === 403) {
        setText(result, `refused: ${message} — read-only for this token`, 'result error');
        readOnly(kind, true);
      } else if (error instanceof ApiError && error.status === 409) {
        setText(result, `not saved: ${message} — reload to see the current values`, 'result error');
      } else {
        setText(result, `not saved: ${message}`, 'result error');
      }
    }
  }

  // ------------------------------------------------------------------------------------------
  // Live events: the SSE stream read with fetch() (EventSource cannot send the Authorization header)

  const stream = { controller: null as AbortController | null, lastId: null as string | null, paused: false };
  const MAX_EVENT_ROWS = 200;

  function connectEvents(): void {
    stream.controller?.abort();
    const controller = new AbortController();
    stream.controller = controller;
    void readEvents(controller);
  }

  async function readEvents(controller: AbortController): Promise<void> {
    const retry = (why: string): void => {
      if (controller.signal.aborted) return;
      setText('events-state', `disconnected (${why}); reconnecting in 2 s`, 'error');
      window.setTimeout(() => {
        if (!controller.signal.aborted) void readEvents(controller);
      }, 2000);
    };
    let res: Response;
    try {
      res = await fetch('/api/v1/events/stream', { headers: { Accept: 'text/event-stream', ...authHeaders(), ...(stream.lastId ? { 'Last-Event-ID': stream.lastId } : {}) }, cache: 'no-store', credentials: 'omit', signal: controller.signal });
    } catch (error) {
      return retry(error instanceof Error ? error.message : String(error));
    }
    if (!res.ok || !res.body) {
      let message = `${res.status}`;
      try {
        const e = (JSON.parse(await res.text()) as { error?: { code: string; message: string } }).error;
        if (e) message = `${res.status} ${e.code}: ${e.message}`;
      } catch {
        // not JSON
      }
      if (res.status === 401 || res.status === 403) {
        setText('events-state', `the event stream is refused: ${message}`, 'error');
        return;
      }
      return retry(message);
    }
    setText('events-state', 'connected: live', 'status ok-dot');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut: RegExpExecArray | null;
        while ((cut = /\r?\n\r?\n/.exec(buffer)) !== null) {
          const block = buffer.slice(0, cut.index);
          buffer = buffer.slice(cut.index + cut[0].length);
          onSseBlock(block);
        }
      }
    } catch (error) {
      return retry(error instanceof Error ? error.message : String(error));
    }
    retry('the stream ended');
  }

  function onSseBlock(block: string): void {
    let id: string | null = null;
    let data = '';
    for (const line of block.split(/\r?\n/)) {
      if (line.startsWith(':')) continue; // comment (keep-alive)
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'id') id = value;
      else if (field === 'data') data += (data ? '\n' : '') + value;
    }
    if (id !== null) stream.lastId = id;
    if (data === '') return;
    let event: EventJson;
    try {
      event = JSON.parse(data) as EventJson;
    } catch {
      return;
    }
    addEventRow(event);
    scheduleRefresh();
  }

  function addEventRow(e: EventJson): void {
    if (stream.paused) return;
    const body = $('events-table').querySelector('tbody')!;
    let data = JSON.stringify(e.data);
    if (data.length > 300) data = `${data.slice(0, 299)}…`;
    body.prepend(h('tr', { data: { type: e.type } }, h('td', { class: 'num' }, e.seq), h('td', {}, when(e.at)), h('td', {}, e.type), h('td', { class: 'code' }, e.subject ?? ''), h('td', {}, e.owner ?? ''), h('td', { class: 'data' }, data)));
    while (body.rows.length > MAX_EVENT_ROWS) body.deleteRow(body.rows.length - 1);
  }

  // ------------------------------------------------------------------------------------------
  // Dependency health

  let healthTimer: number | undefined;
  async function loadHealth(): Promise<void> {
    const box = $('health-body');
    try {
      const r = await api<Record<string, unknown>>('GET', '/health');
      const ready = await fetch('/ready', { headers: authHeaders(), cache: 'no-store', credentials: 'omit' }).then((x) => x.status).catch(() => 0);
      clear(box);
      const status = String(r.status);
      box.append(h('p', { class: status === 'ok' ? 'ok-dot' : 'warn-dot', data: { field: 'status' } }, `status: ${status}; ready: ${r.ready ? 'yes' : 'no'} (/ready answers ${ready}); mode: ${String(r.mode)}`));
      const list = (title: string, items: unknown): void => {
        if (!Array.isArray(items) || items.length === 0) return;
        const ul = h('ul', { class: 'reasons' });
        for (const i of items) ul.append(h('li', {}, String(i)));
        box.append(h('h3', {}, title), ul);
      };
      list('Not ready because', r.reasons);
      list('Warnings', r.warnings);
      const db = (r.database ?? {}) as { ok?: boolean; kind?: string; error?: string };
      box.append(h('h3', {}, 'Database'), h('p', { class: db.ok ? 'ok-dot' : 'bad-dot', data: { field: 'database' } }, db.ok ? `${db.kind ?? 'database'}: answers` : `does not answer: ${db.error ?? 'unknown error'}`));
      const hi = (r.hostInfo ?? {}) as { provider?: string; ok?: boolean; hosts?: number; ageMs?: number; stale?: boolean; lastSuccessAt?: string; lastError?: { code: string; message: string; at: string } };
      box.append(
        h('h3', {}, 'Host information'),
        h('p', { class: hi.ok === false || hi.stale ? 'warn-dot' : 'ok-dot', data: { field: 'hostInfo' } }, `${hi.provider ?? '?'}: ${num(hi.hosts)} hosts${hi.ageMs !== undefined ? `, snapshot ${num(Math.round(hi.ageMs / 100) / 10)} s old` : ''}${hi.stale ? ', stale' : ''}${hi.lastError ? `; last error ${hi.lastError.code}: ${hi.lastError.message} (${when(hi.lastError.at)})` : ''}`),
      );
      const trec = (r.trec ?? {}) as { sources?: { source: string; configured?: boolean; state?: string; lastFailure?: { reason: string } }[] };
      if (trec.sources?.length) {
        const ul = h('ul', { class: 'reasons' });
        for (const t of trec.sources) ul.append(h('li', { class: t.configured === false ? 'warn-dot' : t.state === 'closed' || t.state === undefined ? 'ok-dot' : 'bad-dot' }, `${t.source}: ${t.configured === false ? 'not configured (fallback values)' : `circuit ${t.state ?? 'closed'}`}${t.lastFailure ? ` — ${t.lastFailure.reason}` : ''}`));
        box.append(h('h3', {}, 'TREC services'), ul);
      }
    } catch (error) {
      clear(box);
      box.append(h('p', { class: 'error' }, error instanceof ApiError ? error.describe() : String(error)));
    }
    window.clearTimeout(healthTimer);
    healthTimer = window.setTimeout(() => {
      if (current === 'health') void loadHealth();
    }, 15_000);
  }

  // ------------------------------------------------------------------------------------------
  // Start-up, sign-in, sign-out

  function showLogin(message: string): void {
    $('login').hidden = false;
    $('nav').hidden = true;
    for (const v of VIEWS) $(`view-${v}`).hidden = true;
    setText('login-error', message, 'error');
    $<HTMLInputElement>('login-token').focus();
  }

  function onUnauthorized(message: string): void {
    sessionStorage.removeItem(TOKEN_KEY);
    session.token = null;
    session.started = false;
    stream.controller?.abort();
    showLogin(`signed out: ${message}`);
  }

  async function signIn(token: string): Promise<boolean> {
    session.token = token;
    try {
      await api('GET', '/api/v1/admissions?limit=1');
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) {
        session.token = null;
        sessionStorage.removeItem(TOKEN_KEY);
        showLogin(`not signed in: ${error.message}`);
        return false;
      }
      // 403 and others: the token is known; the views say what its role may not see.
    }
    sessionStorage.setItem(TOKEN_KEY, token);
    return true;
  }

  function startConsole(): void {
    session.started = true;
    $('login').hidden = true;
    $('nav').hidden = false;
    $('signout').hidden = session.open;
    setText('who', session.open ? 'open mode (operator anonymous)' : 'signed in with a token');
    loaded.clear();
    for (const k of ['policy', 'constraints'] as const) {
      readOnly(k, false);
      setText(`${k}-result`, '', 'result');
    }
    clear($('events-table').querySelector('tbody')!);
    stream.lastId = null;
    show(viewFromHash());
    connectEvents();
  }

  async function boot(): Promise<void> {
    let mode = 'tokens';
    try {
      const health = await api<{ mode?: string }>('GET', '/health');
      mode = health.mode ?? 'tokens';
    } catch (error) {
      const banner = $('banner');
      banner.hidden = false;
      banner.textContent = `The service does not answer /health: ${error instanceof ApiError ? error.describe() : String(error)}`;
    }
    if (mode === 'open') {
      session.open = true;
      const banner = $('banner');
      banner.hidden = false;
      banner.textContent = 'Open mode: no tokens are configured, so every caller (this console too) acts as the operator “anonymous”.';
      startConsole();
      return;
    }
    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved && (await signIn(saved))) startConsole();
    else if (!saved) showLogin('');
  }

  function wire(): void {
    $<HTMLFormElement>('login-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = $<HTMLInputElement>('login-token');
      const token = input.value.trim();
      input.value = '';
      if (!token) return;
      void signIn(token).then((ok) => {
        if (ok) startConsole();
      });
    });
    $('signout').addEventListener('click', () => {
      sessionStorage.removeItem(TOKEN_KEY);
      session.token = null;
      session.started = false;
      stream.controller?.abort();
      setText('who', '');
      $('signout').hidden = true;
      hostsData = null;
      selectedHost = null;
      selectedAdmission = null;
      for (const id of ['hosts-totals', 'host-detail', 'adm-detail', 'dec-detail', 'admit-answer', 'health-body', 'tl-chart']) clear($(id));
      clear($('adm-table').querySelector('tbody')!);
      clear($('dec-table').querySelector('tbody')!);
      // Nothing of the previous principal's views stays on screen for the next one.
      for (const e of Array.from(document.querySelectorAll('main .status, main .result'))) e.textContent = '';
      for (const k of ['policy', 'constraints'] as const) fill(k, undefined);
      clear($('groups-table').querySelector('tbody')!);
      showLogin('signed out');
    });
    window.addEventListener('hashchange', () => {
      if (session.started) show(viewFromHash());
    });

    $('hosts-refresh').addEventListener('click', () => void loadHosts());
    $('hosts-metric').addEventListener('change', () => drawHeatmap());
    const canvas = $<HTMLCanvasElement>('hosts-canvas');
    canvas.addEventListener('click', (event) => {
      const x = hostAt(event);
      if (x) {
        $<HTMLInputElement>('hosts-find').value = x.id;
        selectHost(x.id);
      }
    });
    canvas.addEventListener('mousemove', (event) => {
      const x = hostAt(event);
      canvas.title = x ? `${x.id}: ${num(x.freeCpus)} of ${num(x.cpus)} CPUs free${x.freeMemoryMb !== undefined ? `, ${num(x.freeMemoryMb)} MB free` : ''}` : '';
    });
    const find = $<HTMLInputElement>('hosts-find');
    find.addEventListener('change', () => selectHost(find.value.trim() || null));
    find.addEventListener('keydown', (event) => {
      if (event.key === 'Enter') selectHost(find.value.trim() || null);
    });
    window.addEventListener('resize', () => {
      if (current === 'hosts') drawHeatmap();
    });

    $<HTMLFormElement>('adm-filter').addEventListener('submit', (event) => {
      event.preventDefault();
      admPaging.cursors = [null];
      admPaging.index = 0;
      void loadAdmissions();
    });
    $('adm-next').addEventListener('click', () => {
      if (!admPaging.next) return;
      admPaging.cursors[admPaging.index + 1] = admPaging.next;
      admPaging.index++;
      void loadAdmissions();
    });
    $('adm-prev').addEventListener('click', () => {
      if (admPaging.index === 0) return;
      admPaging.index--;
      void loadAdmissions();
    });

    $<HTMLFormElement>('dec-filter').addEventListener('submit', (event) => {
      event.preventDefault();
      decPaging.cursors = [null];
      decPaging.index = 0;
      void loadDecisions();
    });
    $('dec-next').addEventListener('click', () => {
      if (!decPaging.next) return;
      decPaging.cursors[decPaging.index + 1] = decPaging.next;
      decPaging.index++;
      void loadDecisions();
    });
    $('dec-prev').addEventListener('click', () => {
      if (decPaging.index === 0) return;
      decPaging.index--;
      void loadDecisions();
    });

    $('tl-refresh').addEventListener('click', () => void loadTimeline());
    $('tl-range').addEventListener('change', () => void loadTimeline());

    $<HTMLFormElement>('admit-form').addEventListener('submit', (event) => {
      event.preventDefault();
      void submitAdmission();
    });
    const file = $<HTMLInputElement>('admit-file');
    file.addEventListener('change', () => {
      const f = file.files?.[0];
      if (f) void f.text().then((text) => ($<HTMLTextAreaElement>('admit-xml').value = text));
    });

    for (const kind of ['policy', 'constraints'] as const) {
      $<HTMLFormElement>(`${kind}-form`).addEventListener('submit', (event) => {
        event.preventDefault();
        void save(kind);
      });
    }
    for (const k of POLICY_KEYS) $(`policy-${k}`).addEventListener('input', updateSum);

    $('events-pause').addEventListener('click', () => {
      stream.paused = !stream.paused;
      $('events-pause').textContent = stream.paused ? 'Resume' : 'Pause';
    });
    $('events-clear').addEventListener('click', () => clear($('events-table').querySelector('tbody')!));
    $('health-refresh').addEventListener('click', () => void loadHealth());
  }

  wire();
  void boot();
})();
