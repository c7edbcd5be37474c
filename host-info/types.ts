/**
 * Host capacity as the admission cycle sees it, the provider interface every source implements, and the configuration union.
 * Pure shapes: no I/O here; the providers (inventory, PhysicalHosts XML, OpenNebula XML-RPC) live in their own modules.
 */

/** One physical host's capacity. Figures are whole units as the model counts them (cores, MB). */
export interface HostCapacity {
  /** The host's real id (inventory id, PhysicalHost `id`, OpenNebula `NAME`). */
  id: string;
  /** Total cores the host may give to VMs. */
  cpus: number;
  /** Cores already allocated, 0 ≤ usedCpus ≤ cpus. */
  usedCpus: number;
  /** Total memory in MB; absent when the source does not report memory (memory is then not constrained). */
  memoryMb?: number;
  /** Memory already allocated in MB, 0 ≤ usedMemoryMb ≤ memoryMb; present exactly when memoryMb is. */
  usedMemoryMb?: number;
  /** Host eco-efficiency, when the source knows it (only the inventory does). */
  eco?: number;
  /** Host probability of failure in [0, 1], when the source knows it (only the inventory does). */
  risk?: number;
  /**
   * Named capabilities with optional versions (`nodejs: "20.11.1"`, `avx512: true`, `zone: "eu-west-1a"`): the
   * inventory's `capabilities`, OpenNebula TEMPLATE attributes through a mapping, PhysicalHosts' where present.
   */
  capabilities?: Record<string, string | true>;
}

/** A provider's answer: frozen (array and hosts), shared by every caller until the source changes. */
export type HostSnapshot = readonly Readonly<HostCapacity>[];

/** Freezes a provider's freshly read hosts in place (they are never changed afterwards) and returns them. */
export function freezeSnapshot(hosts: readonly HostCapacity[]): HostSnapshot {
  if (!Object.isFrozen(hosts)) {
    for (const h of hosts) {
      if (h.capabilities) Object.freeze(h.capabilities);
      Object.freeze(h);
    }
    Object.freeze(hosts);
  }
  return hosts;
}

/** A failure of the source, as status() and snapshotInfo() report it (never with credentials). */
export interface HostInfoError {
  readonly code: string;
  readonly message: string;
  /** When it happened (ISO 8601). */
  readonly at: string;
}

/**
 * A source answer that was not taken as the truth: empty, or shorter than the held snapshot by more than maxShrink.
 * The held snapshot keeps being served (within the maximum age) and carries this record.
 */
export interface SuspectInfo {
  /**
   * Plain-language reason, e.g. "PhysicalHosts service answered 0 hosts, previously 320" or "OpenNebula answered 100
   * hosts, previously 320: more than 50 % fewer (skipped 220 hosts not usable in their state: …)".
   */
  readonly reason: string;
  /** Hosts in the latest suspicious answer. */
  readonly answeredHosts: number;
  /** Hosts in the snapshot held (and served) instead. */
  readonly previousHosts: number;
  /** First of the consecutive suspicious answers (ISO 8601); a plausible answer ends the run, a failed read does not. */
  readonly since: string;
  /** Suspicious answers read in this run (an unchanged inventory file counts once). */
  readonly answers: number;
  /**
   * From when a shorter list that is still being answered is believed (ISO 8601): since + shrinkConfirmMs. It is accepted
   * at the first answer at or after that time. Absent for an empty answer: an empty list is never believed.
   */
  readonly acceptAt?: string;
}

/**
 * What a provider knows about one snapshot it returned from listHosts(): HostInfoProvider.snapshotInfo(snapshot).
 * The facts are recorded on the snapshot itself each time it is served, so asking right after listHosts() describes
 * the snapshot the caller holds even if another caller has refreshed the provider in between.
 */
export interface SnapshotInfo {
  readonly provider: string;
  /** The file path or the URL (user info removed). */
  readonly source: string;
  /** Hosts in this snapshot. */
  readonly hosts: number;
  /**
   * When the source last vouched for this data (ISO 8601): a remote source's answer, or the inventory file's last check
   * that found it unchanged. Never moved by a failed, or a suspicious, read.
   */
  readonly readAt: string;
  /** Age of the data now, in ms (now − readAt): grows while the snapshot is served stale or held back as suspect. */
  readonly ageMs: number;
  /** How long the provider reuses an answer before asking again (remote: cacheTtlMs; inventory: its file-check interval). */
  readonly cacheTtlMs: number;
  /** Oldest data listHosts() serves (cacheTtlMs + maxStaleMs); past it, listHosts() rejects with HostSnapshotTooOldError. */
  readonly maxAgeMs: number;
  /**
   * true when, at its latest serving, this was the source's latest answer and believed: neither stale nor suspect.
   * Use this (not ageMs > cacheTtlMs, which races with the clock) to decide that an admission ran on degraded capacity.
   */
  readonly fresh: boolean;
  /** At its latest serving the latest refresh had failed (lastError says why): this is the last good data. */
  readonly stale: boolean;
  /** The failure behind `stale`. */
  readonly lastError?: HostInfoError;
  /** At its latest serving the source's latest answer was held back and this snapshot served instead. */
  readonly suspect?: SuspectInfo;
  /**
   * This snapshot is a shorter list that was first held back as suspect and then believed because it persisted: the
   * record of that run (reported on this snapshot only, so a caller that memoises on identity reports it once).
   */
  readonly accepted?: SuspectInfo;
  /** Still the snapshot the provider serves (false once newer data has replaced it). */
  readonly current: boolean;
  /** Facts about the source's answer worth surfacing (e.g. hosts skipped because of their state). */
  readonly notes?: readonly string[];
}

/**
 * Health of a provider, for /health and metrics. Never contains credentials. A passive view: it does not ask the source
 * (call listHosts() first for an up-to-date answer); ageMs keeps growing while nobody asks.
 */
export interface HostInfoStatus {
  /** Provider kind (`inventory`, `physical-hosts`, `opennebula`). */
  readonly provider: string;
  /** The file path or the URL (user info removed) the provider reads. */
  readonly source: string;
  /**
   * true when the last attempt to read the source succeeded and was believed (or nothing was attempted yet);
   * false while lastError or suspect is set.
   */
  readonly ok: boolean;
  /** true when the last answer served came from an older snapshot because the refresh failed. */
  readonly stale: boolean;
  /** See SnapshotInfo.cacheTtlMs. */
  readonly cacheTtlMs: number;
  /** See SnapshotInfo.maxAgeMs: once ageMs exceeds it and the source still fails (or is suspect), listHosts() rejects. */
  readonly maxAgeMs: number;
  /** Hosts in the snapshot currently held, if any. */
  readonly hosts?: number;
  /** When the source last vouched for the snapshot currently held (ISO 8601; SnapshotInfo.readAt). */
  readonly lastSuccessAt?: string;
  /** Age of the snapshot currently held, in ms. */
  readonly ageMs?: number;
  /** The last failure, kept until the next answer (a suspicious answer ends it too, and sets `suspect`). */
  readonly lastError?: HostInfoError;
  /** The source's latest answers are held back (see SuspectInfo); the snapshot held is served instead. */
  readonly suspect?: SuspectInfo;
  /** The snapshot held was believed after being held back (SnapshotInfo.accepted). */
  readonly accepted?: SuspectInfo;
  /** Facts about the last good read worth surfacing (e.g. hosts skipped because of their state). */
  readonly notes?: readonly string[];
}

export interface HostInfoProvider {
  /** Provider kind, for logs and health output (`inventory`, `physical-hosts`, `opennebula`). */
  readonly name: string;
  /**
   * The current host capacities. Rejects with AdmissionError (AC_ERR_CONFIG for a bad inventory file,
   * AC_ERR_UPSTREAM / AC_ERR_TIMEOUT for a remote source, HostSnapshotTooOldError when the only data left is older
   * than the maximum age). The answer is a frozen snapshot: the same array comes back until the source changes, so
   * callers may keep it and memoise on its identity.
   *
   * Never an empty list: a first answer with no hosts rejects (nothing can be admitted, and the service says so).
   */
  listHosts(signal?: AbortSignal): Promise<HostSnapshot>;
  /** Health of the source; optional so that test doubles need not implement it. */
  status?(): HostInfoStatus;
  /**
   * What is known about `snapshot`, an array this provider returned from listHosts(): age, staleness, suspicion.
   * Synchronous; undefined for an array the provider did not return. Optional so that test doubles need not implement
   * it (callers treat its absence as "nothing known": not degraded).
   */
  snapshotInfo?(snapshot: HostSnapshot): SnapshotInfo | undefined;
}

/**
 * How a provider treats a host list much shorter than the one it holds (every kind). An answer with no hosts is never
 * believed; one that drops more than maxShrink of the held hosts is held back until it has persisted for
 * shrinkConfirmMs. Meanwhile the held snapshot is served (marked suspect) as long as it is within the maximum age.
 */
export interface ShrinkGuardConfig {
  /**
   * Largest share (0..1) of the held hosts one answer may drop and still be believed at once. Optional; default
   * DEFAULT_MAX_SHRINK (0.5: 320 → 160 is believed, 320 → 159 is held back). 1 = only an empty answer is held back;
   * 0 = every shrink is held back.
   */
  maxShrink?: number;
  /**
   * How long a shorter list must keep being answered (no plausible answer in between) before it is believed, in ms.
   * Optional; default DEFAULT_SHRINK_CONFIRM_MS. 0 = believed at once (but still reported as `accepted`).
   */
  shrinkConfirmMs?: number;
}

export interface RemoteConfig extends ShrinkGuardConfig {
  url: string;
  /** Deadline for one whole request (connect, send, receive), in ms. */
  timeoutMs: number;
  /** How long an answer is reused before the source is asked again, in ms (0 = every call asks). */
  cacheTtlMs: number;
  /**
   * How long past cacheTtlMs an old answer may still be served while the source fails or its answers are held back,
   * in ms: the maximum age of the data is cacheTtlMs + maxStaleMs. Optional; default DEFAULT_MAX_STALE_MS.
   * 0 = never serve stale answers.
   */
  maxStaleMs?: number;
}

export interface InventoryConfig extends ShrinkGuardConfig {
  path: string;
  /**
   * How long the previous contents may still be served while the file's new, suspicious list is held back, in ms
   * (measured from when the file last vouched for them). Optional; default DEFAULT_MAX_STALE_MS. An invalid file is
   * never covered by old contents: it is reported on every call.
   */
  maxStaleMs?: number;
}

export type HostInfoConfig =
  | ({ kind: 'inventory' } & InventoryConfig)
  | ({ kind: 'physical-hosts' } & RemoteConfig)
  | ({
      kind: 'opennebula';
      /** `user:password` (OpenNebula session string); never logged. */
      auth: string;
      /** HOST TEMPLATE attribute → capability name (EAC_CAP_<NAME> attributes are read without an entry). */
      capabilityAttributes?: Readonly<Record<string, string>>;
    } & RemoteConfig);

/**
 * Default bound on serving stale answers: two minutes. Long enough to ride out a restart of the host-info
 * service or of oned, short enough that offers are not computed on capacity that is visibly out of date.
 */
export const DEFAULT_MAX_STALE_MS = 120_000;

/** Default ShrinkGuardConfig.maxShrink: an answer with fewer than half of the held hosts is held back. */
export const DEFAULT_MAX_SHRINK = 0.5;

/**
 * Default ShrinkGuardConfig.shrinkConfirmMs: one minute, i.e. about a dozen polls at the default 5 s cache, and well
 * inside the default maximum age (5 s + 120 s), so that a real decommissioning is believed before admissions are refused.
 */
export const DEFAULT_SHRINK_CONFIRM_MS = 60_000;
