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
}

/** A provider's answer: frozen (array and hosts), shared by every caller until the source changes. */
export type HostSnapshot = readonly Readonly<HostCapacity>[];

/** Freezes a provider's freshly read hosts in place (they are never changed afterwards) and returns them. */
export function freezeSnapshot(hosts: readonly HostCapacity[]): HostSnapshot {
  if (!Object.isFrozen(hosts)) {
    for (const h of hosts) Object.freeze(h);
    Object.freeze(hosts);
  }
  return hosts;
}

/** Health of a provider, for /health and metrics. Never contains credentials. */
export interface HostInfoStatus {
  /** Provider kind (`inventory`, `physical-hosts`, `opennebula`). */
  readonly provider: string;
  /** The file path or the URL (user info removed) the provider reads. */
  readonly source: string;
  /** true when the last attempt to read the source succeeded (or nothing was attempted yet). */
  readonly ok: boolean;
  /** true when the last answer served came from an older snapshot because the refresh failed. */
  readonly stale: boolean;
  /** Hosts in the snapshot currently held, if any. */
  readonly hosts?: number;
  /** When the snapshot currently held was read (ISO 8601). */
  readonly lastSuccessAt?: string;
  /** Age of the snapshot currently held, in ms. */
  readonly ageMs?: number;
  /** The last failure, kept until the next success. */
  readonly lastError?: { readonly code: string; readonly message: string; readonly at: string };
  /** Facts about the last good read worth surfacing (e.g. hosts skipped because of their state). */
  readonly notes?: readonly string[];
}

export interface HostInfoProvider {
  /** Provider kind, for logs and health output (`inventory`, `physical-hosts`, `opennebula`). */
  readonly name: string;
  /**
   * The current host capacities. Rejects with AdmissionError (AC_ERR_CONFIG for a bad inventory file,
   * AC_ERR_UPSTREAM / AC_ERR_TIMEOUT for a remote source). The answer is a frozen snapshot: the same array
   * comes back until the source changes, so callers may keep it and memoise on its identity.
   */
  listHosts(signal?: AbortSignal): Promise<HostSnapshot>;
  /** Health of the source; optional so that test doubles need not implement it. */
  status?(): HostInfoStatus;
}

interface RemoteConfig {
  url: string;
  /** Deadline for one whole request (connect, send, receive), in ms. */
  timeoutMs: number;
  /** How long an answer is reused before the source is asked again, in ms (0 = every call asks). */
  cacheTtlMs: number;
  /**
   * How long past cacheTtlMs an old answer may still be served while the source fails, in ms.
   * Optional; default DEFAULT_MAX_STALE_MS. 0 = never serve stale answers.
   */
  maxStaleMs?: number;
}

export type HostInfoConfig =
  | { kind: 'inventory'; path: string }
  | ({ kind: 'physical-hosts' } & RemoteConfig)
  | ({ kind: 'opennebula'; /** `user:password` (OpenNebula session string); never logged. */ auth: string } & RemoteConfig);

/**
 * Default bound on serving stale answers: two minutes. Long enough to ride out a restart of the host-info
 * service or of oned, short enough that offers are not computed on capacity that is visibly out of date.
 */
export const DEFAULT_MAX_STALE_MS = 120_000;
