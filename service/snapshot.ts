/**
 * The capacity one admission is solved on: per host, what is free over the admission's whole window (the ledger's
 * view), minus this process's bookings that are being committed, plus the requester's own held offer that the booking
 * will replace. Reads only; the ledger's write re-checks everything.
 */
import type { HostSnapshot } from '../host-info/types';
import type { Ledger, TimeWindow } from '../ledger/types';

/*
 * Decisions:
 * - Pipelining: an admission reserves what it chose in `pending` (in memory, this process) before its booking is
 *   committed, and the next admission of this process subtracts it. Solves no longer wait for the previous commit, and
 *   commits batch (the ledger's group commit), yet two admissions of one process never choose the same last CPUs.
 *   Other processes are kept apart by the ledger's write check (a conflict re-solves).
 * - A pending booking counts in full against every window it overlaps (conservative: a partial overlap might leave
 *   more free); it is gone once committed or failed, and the ledger's own view takes over.
 * - The replaced held offer (same owner and service, `replaceHeld`) is added back where its window overlaps; exact when
 *   it covers the new window (the SLA manager re-sends the same request), otherwise the ledger's check decides.
 * - Hosts the ledger does not know yet (a snapshot newer than its inventory) count as fully free here; the booking
 *   check refuses them until syncHosts() has recorded them, and the cycle re-solves.
 */

export interface PendingBooking {
  readonly window: TimeWindow;
  readonly hosts: readonly { readonly hostId: string; readonly cpus: number; readonly memoryMb: number }[];
}

export interface WindowSnapshot {
  /** Per host id: capacity the model must treat as taken beyond host-info's own usage (may be negative: capacity that arrives). */
  readonly reserved: ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }>;
  /**
   * Per host id: the part of `reserved` that recorded admissions hold (this process's pending bookings included, the
   * replaced held offers excluded; never negative, never more than `reserved`). The rest is capacity windows
   * (maintenance). Reasons use it to tell capacity in use from a fleet too small (decisions.ts DecisionContext).
   */
  readonly booked: ReadonlyMap<string, { readonly cpus: number; readonly memoryMb: number }>;
  /** Σ of the per-host generations seen (changes whenever a booking or the inventory of any host changes). */
  readonly generation: number;
  /** Host generations, for the booking's record. */
  readonly generations: Readonly<Record<string, number>>;
}

const overlaps = (a: TimeWindow, b: TimeWindow): boolean => a.start < (b.end ?? Infinity) && b.start < (a.end ?? Infinity);

export class CapacitySnapshots {
  private readonly pending = new Set<PendingBooking>();

  constructor(private readonly ledger: Ledger) {}

  /** Holds `booking` against this process's next snapshots until the returned function is called (committed or failed). */
  reserve(booking: PendingBooking): () => void {
    const entry = { ...booking };
    this.pending.add(entry);
    return () => this.pending.delete(entry);
  }

  /**
   * `avoid`: hosts to treat as full in this snapshot (a retry after a capacity conflict: another process is filling
   * them with bookings this process cannot see until they commit). Only ever makes the snapshot more conservative.
   */
  async take(hosts: HostSnapshot, window: TimeWindow, replacing: readonly PendingBooking[] = [], avoid: ReadonlySet<string> = new Set()): Promise<WindowSnapshot> {
    const view = await this.ledger.capacity(window);
    const reserved = new Map<string, { cpus: number; memoryMb: number }>();
    const booked = new Map<string, { cpus: number; memoryMb: number }>();
    const generations: Record<string, number> = {};
    let generation = 0;
    const byId = new Map(view.hosts.map((h) => [h.hostId, h]));
    for (const h of hosts) {
      const v = byId.get(h.id);
      if (!v) continue;
      generation += v.generation;
      generations[h.id] = v.generation;
      // Taken over the window beyond host-info's usage: cpus − used − free (negative when a window adds capacity).
      const cpus = v.cpus - v.usedCpus - v.freeCpus;
      const memoryMb = v.memoryMb !== undefined && v.freeMemoryMb !== undefined ? v.memoryMb - (v.usedMemoryMb ?? 0) - v.freeMemoryMb : 0;
      if (cpus !== 0 || memoryMb !== 0) reserved.set(h.id, { cpus, memoryMb });
      if (v.reservedCpus > 0 || (v.reservedMemoryMb ?? 0) > 0) booked.set(h.id, { cpus: v.reservedCpus, memoryMb: v.reservedMemoryMb ?? 0 });
    }
    const shift = (b: PendingBooking, sign: 1 | -1): void => {
      if (!overlaps(b.window, window)) return;
      for (const a of b.hosts) {
        const r = reserved.get(a.hostId) ?? { cpus: 0, memoryMb: 0 };
        reserved.set(a.hostId, { cpus: r.cpus + sign * a.cpus, memoryMb: r.memoryMb + sign * a.memoryMb });
        const k = booked.get(a.hostId) ?? { cpus: 0, memoryMb: 0 };
        booked.set(a.hostId, { cpus: k.cpus + sign * a.cpus, memoryMb: k.memoryMb + sign * a.memoryMb });
      }
    };
    for (const b of this.pending) shift(b, 1);
    for (const b of replacing) shift(b, -1);
    for (const id of avoid) {
      const v = byId.get(id);
      if (!v) continue;
      const full = { cpus: v.cpus - v.usedCpus, memoryMb: v.memoryMb !== undefined ? v.memoryMb - (v.usedMemoryMb ?? 0) : 0 };
      reserved.set(id, full);
      booked.set(id, full);
    }
    // Peaks of bookings and of maintenance may fall at different instants: what bookings explain is at most what is taken.
    for (const [id, k] of booked) {
      const r = reserved.get(id) ?? { cpus: 0, memoryMb: 0 };
      const cpus = Math.max(0, Math.min(k.cpus, r.cpus));
      const memoryMb = Math.max(0, Math.min(k.memoryMb, r.memoryMb));
      if (cpus > 0 || memoryMb > 0) booked.set(id, { cpus, memoryMb });
      else booked.delete(id);
    }
    return { reserved, booked, generation, generations };
  }
}
