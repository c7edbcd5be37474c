/**
 * The federation vocabulary shared by the splitter, the peer client, the merger and the HTTP layer: header names,
 * the inbound context a peer's request carries, and the `federation` block of a service's answer. Data only.
 */
import type { PeerProtocol } from '../config/config';
import type { OfferDecision } from '../formats/optimis-manifest/offer';

/** Hops so far: 1 on a request A → B, 2 on B → C. Its presence is what makes a request a federation request. */
export const HEADER_HOP = 'X-EAC-Federation-Hop';
/** Comma-separated provider ids the request went through, originator first (`A,B` on B → C). */
export const HEADER_ORIGIN = 'X-EAC-Federation-Origin';
/** One id per original client request, kept along the chain: a provider that sees its own in-flight id is in a loop. */
export const HEADER_ID = 'X-EAC-Federation-Id';
/** Milliseconds the caller will still wait; the receiver bounds its own work (and its own forwarding) by it. */
export const HEADER_BUDGET = 'X-EAC-Federation-Budget-Ms';

/** What a federation request told the receiving provider. */
export interface InboundFederation {
  readonly hop: number;
  readonly origin: readonly string[];
  readonly id: string;
  readonly budgetMs?: number;
}

/** Why a component is in a sub-manifest. */
export type SentReason = 'not-admitted-locally' | 'elastic-top-up';

/** One component of a sub-manifest, with the bounds written into it. */
export interface SentComponent {
  readonly componentId: string;
  readonly reason: SentReason;
  /** `AllocationConstraints/Initial` in the sub-manifest: VMs the peer must run for the component to count. */
  readonly initial: number;
  /** `AllocationConstraints/UpperBound` in the sub-manifest. */
  readonly upperBound: number;
  /** φ: the VMs the local model chose to federate (0 when the component was not admitted and the model left it out). */
  readonly modelFederatedVms: number;
}

export type FederationReasonCode =
  | 'SPLIT_NOT_ALLOWED' // an affinity rule (or a component's own affinity) forbids splitting the service
  | 'HOP_LIMIT' // the request reached the federation hop limit here
  | 'NO_ELIGIBLE_PEER' // every configured peer is already in the origin chain (or excluded)
  | 'PEER_REJECTED' // a peer answered rejected
  | 'PEER_PARTIAL' // a peer answered partial: not an acceptance
  | 'PEER_FAILED' // a peer was unreachable, slow, refused the credentials, or answered garbage
  | 'PEER_SKIPPED' // a peer was not asked (trust hint too low, no time left)
  | 'NO_TIME_LEFT' // the request deadline left no time for (further) peers
  | 'FEDERATION_ERROR'; // a fault on this side (logged); the local answer stands

export interface FederationReason {
  readonly code: FederationReasonCode;
  readonly message: string;
  readonly data: Readonly<Record<string, string | number | boolean | readonly string[] | null>>;
}

export type AttemptOutcome = 'accepted' | 'partial' | 'rejected' | 'error' | 'skipped';

export interface FederationAttempt {
  readonly peerId: string;
  readonly protocol: PeerProtocol;
  readonly outcome: AttemptOutcome;
  /** Wall-clock time of the attempt, in seconds (0 for a skipped peer). */
  readonly seconds: number;
  readonly httpStatus?: number;
  /** For outcome 'error' / 'skipped': what went wrong, in words. */
  readonly error?: string;
  /** The peer's admission id (null on dry-run, for OPTIMIS peers, or when the peer holds nothing). */
  readonly peerAdmissionId?: string | null;
  /** For a peer's partial / rejected answer: the peer's own reasons. */
  readonly peerReasons?: readonly { readonly code: string; readonly message: string; readonly componentId?: string }[];
  /** Set when a booking the peer made for a non-accepted answer was released again. */
  readonly released?: boolean;
}

export type FederationStatus =
  | 'federated' // a peer accepted every component sent: the service is covered
  | 'failed' // peers were asked (or could not be), none accepted
  | 'split-not-allowed' // nothing was sent: the manifest's affinity rules forbid this split
  | 'not-forwarded'; // nothing was sent: hop limit, or no peer left that is not already in the chain

export interface FederationCost {
  /** The local model's cost without its own estimate for the federated VMs. */
  readonly local: number;
  readonly federated: number;
  readonly total: number;
  /** 'peer': the peer's reported cost; 'price-hint': the peer's configured priceHint × VMs; 'model-estimate': the local model's fcv. */
  readonly federatedSource: 'peer' | 'price-hint' | 'model-estimate';
}

/** The `federation` block of a service's answer. */
export interface FederationReport {
  readonly status: FederationStatus;
  readonly federationId: string;
  /** The hop count of the requests this provider sent (1 when it is the originator). */
  readonly hop: number;
  /** The origin chain those requests carried (this provider last). */
  readonly origin: readonly string[];
  readonly sent: readonly SentComponent[];
  readonly peerId: string | null;
  readonly protocol: PeerProtocol | null;
  readonly peerDecision: OfferDecision | null;
  readonly peerAdmissionId: string | null;
  /** VMs the accepting peer runs (or itself federates) per component. */
  readonly placedVms: Readonly<Record<string, number>>;
  /** Component id → the id it has inside the embedded ExternalDeployment copy (docs/federation.md, "schema"). */
  readonly embeddedIds: Readonly<Record<string, string>>;
  /** The peer's answer manifest, verbatim and standalone (the embedded copy in `manifest` is reduced). */
  readonly peerManifest: string | null;
  readonly cost?: FederationCost;
  readonly attempts: readonly FederationAttempt[];
  readonly reasons: readonly FederationReason[];
  readonly seconds: number;
}
