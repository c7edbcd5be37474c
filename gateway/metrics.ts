/**
 * Prometheus metrics (prom-client) on a private registry: request latency per route, admissions per
 * decision, solver time and status, degraded TREC answers. Exposed at GET /metrics.
 */
import type { NextFunction, Request, Response } from 'express';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AdmissionAnswer } from '../service/admission-service';
import type { AdmissionIntake, IntakeObserver } from '../service/intake';

export class Metrics {
  readonly registry = new Registry();
  private readonly httpDuration = new Histogram({
    name: 'eac_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly admissions = new Counter({
    name: 'eac_service_decisions_total',
    help: 'Service decisions by outcome and dry-run',
    labelNames: ['decision', 'dry_run'] as const,
    registers: [this.registry],
  });
  private readonly solverSeconds = new Histogram({
    name: 'eac_solver_seconds',
    help: 'Solve time by solver and status',
    labelNames: ['solver', 'status'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 30],
    registers: [this.registry],
  });
  private readonly degraded = new Counter({
    name: 'eac_trec_degraded_total',
    help: 'TREC values replaced by fallbacks, by source',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  private readonly intakeWait = new Histogram({
    name: 'eac_admission_queue_wait_seconds',
    help: 'Time an admission waited for its turn to start (arrival order, one start per event-loop turn)',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [this.registry],
  });
  /** Give this to the AdmissionIntake: every start's wait lands in eac_admission_queue_wait_seconds. */
  readonly intakeObserver: IntakeObserver = { started: (seconds) => this.intakeWait.observe(seconds) };

  constructor(withProcessMetrics = true) {
    if (withProcessMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'eac_' });
  }

  /** eac_admission_queue_length: admissions waiting for their turn, read at each scrape. */
  watchIntake(intake: AdmissionIntake): void {
    new Gauge({
      name: 'eac_admission_queue_length',
      help: 'Admissions waiting for their turn to start',
      registers: [this.registry],
      collect() {
        this.set(intake.waiting);
      },
    });
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  middleware() {
    return (req: Request, res: Response, next: NextFunction): void => {
      const end = this.httpDuration.startTimer();
      res.on('finish', () => {
        // The matched route pattern keeps label cardinality bounded (no raw ids in labels).
        const route = (req.route?.path as string | undefined) ?? (res.statusCode === 404 ? 'unmatched' : req.path);
        end({ method: req.method, route, status: String(res.statusCode) });
      });
      next();
    };
  }

  recordAdmission(answer: AdmissionAnswer): void {
    for (const s of answer.services) this.admissions.inc({ decision: s.decision, dry_run: String(answer.dryRun) });
    this.solverSeconds.observe({ solver: answer.solver.name, status: answer.solver.status }, answer.solver.seconds);
    for (const d of answer.degraded) this.degraded.inc({ source: d.source });
  }
}
