/**
 * Host capabilities as admissions see them: what host-info reports, with the operator's overrides from the ledger
 * merged over it (`set` wins, `removed` hides). A HostInfoProvider decorator, so every reader of hosts (the admission
 * cycle, GET /api/v1/hosts) sees the same merge; the merged snapshot is frozen and kept while neither input changes,
 * so that callers memoising on the snapshot's identity (the host model memo, the greedy's host tables) still hit.
 */
import type { HostCapacity, HostInfoProvider, HostInfoStatus, HostSnapshot, SnapshotInfo } from '../host-info/types';
import { freezeSnapshot } from '../host-info/types';
import type { CapabilityOverrides, Ledger } from '../ledger/types';

export function mergeCapabilities(hosts: HostSnapshot, overrides: CapabilityOverrides): HostSnapshot {
  if (overrides.byHost.size === 0) return hosts;
  const merged: HostCapacity[] = hosts.map((h) => {
    const o = overrides.byHost.get(h.id);
    if (!o) return h as HostCapacity;
    const capabilities: Record<string, string | true> = { ...(h.capabilities ?? {}) };
    for (const name of o.removed) delete capabilities[name];
    Object.assign(capabilities, o.set);
    const { capabilities: _dropped, ...rest } = h;
    return Object.keys(capabilities).length > 0 ? { ...rest, capabilities } : { ...rest };
  });
  return freezeSnapshot(merged);
}

export class CapabilityOverlay implements HostInfoProvider {
  readonly name: string;
  private last: { source: HostSnapshot; version: number; merged: HostSnapshot } | undefined;
  /** Merged snapshot → the provider's own (snapshotInfo is asked about what callers got). */
  private readonly sources = new WeakMap<HostSnapshot, HostSnapshot>();

  constructor(
    private readonly inner: HostInfoProvider,
    private readonly ledger: Pick<Ledger, 'capabilityOverrides'>,
  ) {
    this.name = inner.name;
  }

  async listHosts(signal?: AbortSignal): Promise<HostSnapshot> {
    const source = await this.inner.listHosts(signal);
    const overrides = await this.ledger.capabilityOverrides();
    const last = this.last;
    if (last && last.source === source && last.version === overrides.version) return last.merged;
    const merged = mergeCapabilities(source, overrides);
    if (merged !== source) this.sources.set(merged, source);
    this.last = { source, version: overrides.version, merged };
    return merged;
  }

  status(): HostInfoStatus {
    return this.inner.status!();
  }

  snapshotInfo(snapshot: HostSnapshot): SnapshotInfo | undefined {
    return this.inner.snapshotInfo?.(this.sources.get(snapshot) ?? snapshot);
  }
}

/** The provider with overrides merged in (status() only when the inner provider has one). */
export function withCapabilityOverrides(inner: HostInfoProvider, ledger: Pick<Ledger, 'capabilityOverrides'>): HostInfoProvider {
  const overlay = new CapabilityOverlay(inner, ledger);
  if (!inner.status) (overlay as { status?: unknown }).status = undefined;
  return overlay;
}
