// Prometheus metrics for the gateway (prom-client, one registry per gateway so tests stay isolated).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Decisions of one front door by action: plain numbers, folded into prom-client counters at each scrape. */
export type DecisionCounts = Record<'allow' | 'mask' | 'approve' | 'deny', number>;

/** What the evidence writer reports at a scrape (EvidenceWriter.status(), the fields metrics read). */
export interface EvidenceGauges {
  /** Events waiting to be written to the spool. */
  pending: number;
  /** Events that could not be made durable since start. */
  lostEvents: number;
  publish: { backlog: number; failures: number; failuresTotal: number; caughtUpAt: number } | null;
}

export interface GatewayMetrics {
  registry: Registry;
  sessions: Gauge;
  sessionsTotal: Counter<'outcome'>;
  statements: Counter<'action'>;
  /**
   * The counts a session of `frontDoor` increments per decision (`counts[action]++`): the same object for every
   * session of that door, so the hot path pays one property increment.
   */
  decisionCounts(frontDoor: string): DecisionCounts;
  decisionSeconds: HotHistogram;
  /** From forwarding a simple Query or a Sync to the upstream until its ReadyForQuery (PostgreSQL door). */
  upstreamSeconds: HotHistogram;
  /** 1 while the upstream answered its last connection attempt, else 0. */
  upstreamUp: Gauge<'upstream'>;
  errors: Counter<'kind'>;
  /** 1 for the active policy bundle, labelled with its revision and signed sequence. */
  policyRevision: Gauge<'revision' | 'sequence'>;
  policyReloads: Counter<'outcome'>;
  approvalsRequested: Counter<'mode'>;
  /** Outcomes acted on: a hold's wait ended (approved, rejected, withdrawn, expired) or a rerun found its approval. */
  approvalsDecided: Counter<'outcome'>;
  /** Statements held now, waiting for an approval. */
  approvalsPending: Gauge;
  /** How long held statements waited for their approval's outcome. */
  approvalWaitSeconds: Histogram;
  /** Time to make one group of evidence events durable in the spool (write + O_DSYNC). */
  evidenceDurableSeconds: HotHistogram;
  /** Read at each scrape; set by the gateway once the evidence writer is open. */
  evidenceGauges: (() => EvidenceGauges) | null;
}

const ACTIONS = ['allow', 'mask', 'approve', 'deny'] as const;

/** Creates the gateway's metrics on a fresh registry. */
export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'verdict_process_' });
  // Counted in plain fields per statement and handed to prom-client only when scraped: a prom-client inc()
  // per statement (label hashing, a closure) cost ~0.3 µs under load (perf on bench:gateway).
  const byDoor = new Map<string, DecisionCounts>();
  const statements = new Counter({
    name: 'verdict_statements_total',
    help: 'Statements decided, by action',
    labelNames: ['action'],
    registers: [registry],
    collect() {
      this.reset();
      for (const action of ACTIONS) {
        let n = 0;
        for (const c of byDoor.values()) n += c[action];
        if (n > 0) this.inc({ action }, n);
      }
    },
  });
  new Counter({
    name: 'verdict_decisions_total',
    help: 'Statements decided, by action and front door (postgres, mcp, snowflake)',
    labelNames: ['action', 'front_door'],
    registers: [registry],
    collect() {
      this.reset();
      for (const [door, c] of byDoor) for (const action of ACTIONS) if (c[action] > 0) this.inc({ action, front_door: door }, c[action]);
    },
  });
  const decisionSeconds = new HotHistogram(
    'verdict_decision_seconds',
    'Time to decide one SQL string (parse, analyze, evaluate or cache hit)',
    [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01],
  );
  registry.registerMetric(decisionSeconds as unknown as Histogram);
  const upstreamSeconds = new HotHistogram(
    'verdict_upstream_seconds',
    'Time from forwarding a simple Query or a Sync to the upstream until its ReadyForQuery',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
  );
  registry.registerMetric(upstreamSeconds as unknown as Histogram);
  const evidenceDurableSeconds = new HotHistogram(
    'verdict_evidence_durable_seconds',
    'Time to make one group of evidence events durable in the spool',
    [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1],
  );
  registry.registerMetric(evidenceDurableSeconds as unknown as Histogram);
  const metrics: GatewayMetrics = {
    registry,
    decisionCounts(frontDoor) {
      let c = byDoor.get(frontDoor);
      if (!c) byDoor.set(frontDoor, (c = { allow: 0, mask: 0, approve: 0, deny: 0 }));
      return c;
    },
    evidenceGauges: null,
    evidenceDurableSeconds,
    upstreamSeconds,
    upstreamUp: new Gauge({ name: 'verdict_upstream_up', help: '1 while the upstream answered its last connection attempt, else 0', labelNames: ['upstream'], registers: [registry] }),
    approvalsRequested: new Counter({ name: 'verdict_approvals_requested_total', help: 'Approval requests filed, by mode (hold, rerun, break_glass)', labelNames: ['mode'], registers: [registry] }),
    approvalsDecided: new Counter({ name: 'verdict_approvals_decided_total', help: 'Approval outcomes the gateway acted on, by outcome: a held statement\'s wait ended (approved, rejected, withdrawn, expired), or a rerun found its approval (approved)', labelNames: ['outcome'], registers: [registry] }),
    approvalsPending: new Gauge({ name: 'verdict_approvals_pending', help: 'Statements held now, waiting for an approval', registers: [registry] }),
    approvalWaitSeconds: new Histogram({
      name: 'verdict_approval_wait_seconds',
      help: 'How long held statements waited for their approval outcome',
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
      registers: [registry],
    }),
    sessions: new Gauge({ name: 'verdict_sessions', help: 'Client sessions open now', registers: [registry] }),
    sessionsTotal: new Counter({
      name: 'verdict_sessions_total',
      help: 'Client sessions by how authentication ended',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    statements,
    decisionSeconds,
    errors: new Counter({ name: 'verdict_errors_total', help: 'Errors by kind', labelNames: ['kind'], registers: [registry] }),
    policyRevision: new Gauge({
      name: 'verdict_policy_revision_info',
      help: 'The active policy bundle (value 1) with its revision and signed sequence',
      labelNames: ['revision', 'sequence'],
      registers: [registry],
    }),
    policyReloads: new Counter({
      name: 'verdict_policy_reloads_total',
      help: 'Policy bundle checks that activated a new bundle (activated) or refused one (rejected)',
      labelNames: ['outcome'],
      registers: [registry],
    }),
  };
  const evidence = () => metrics.evidenceGauges?.() ?? null;
  new Gauge({
    name: 'verdict_evidence_queue_events',
    help: 'Evidence events waiting to be written to the spool',
    registers: [registry],
    collect() {
      this.set(evidence()?.pending ?? 0);
    },
  });
  new Gauge({
    name: 'verdict_evidence_publish_backlog_batches',
    help: 'Sealed evidence batches waiting to be published',
    registers: [registry],
    collect() {
      this.set(evidence()?.publish?.backlog ?? 0);
    },
  });
  new Gauge({
    name: 'verdict_evidence_publish_lag_seconds',
    help: 'Seconds since the evidence outbox was last fully published (0 while nothing waits)',
    registers: [registry],
    collect() {
      const p = evidence()?.publish;
      this.set(p && p.backlog > 0 ? Math.max(0, (Date.now() - p.caughtUpAt) / 1000) : 0);
    },
  });
  new Counter({
    name: 'verdict_evidence_publish_failures_total',
    help: 'Failed evidence publish attempts',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(evidence()?.publish?.failuresTotal ?? 0);
    },
  });
  new Counter({
    name: 'verdict_evidence_lost_events_total',
    help: 'Evidence events that could not be made durable (require_durable off), since start',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(evidence()?.lostEvents ?? 0);
    },
  });
  return metrics;
}

/**
 * A label-less histogram observed once per statement: a bucket scan over a Float64Array instead of prom-client's
 * observe (label validation, hashing, number-to-string bucket keys: ~2 µs per Query under load, perf on
 * bench:gateway). It exposes itself to a prom-client Registry in prom-client's own value format.
 *
 * @example
 * const h = new HotHistogram('x_seconds', 'help', [0.001, 0.01]); registry.registerMetric(h as unknown as Histogram); h.observe(0.002);
 */
export class HotHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly #bounds: readonly number[];
  /** Per bucket (not cumulative); the last slot counts values above every bound. */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(
    readonly name: string,
    readonly help: string,
    bounds: readonly number[],
  ) {
    this.#bounds = [...bounds].sort((a, b) => a - b);
    this.#counts = new Float64Array(this.#bounds.length + 1);
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  reset(): void {
    this.#counts.fill(0);
    this.#sum = 0;
    this.#count = 0;
  }

  /** The values as prom-client's Registry reads them (`metrics()`, `getMetricsAsJSON()`). */
  get(): { name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: { labels: Record<string, string | number>; value: number; metricName: string }[] } {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    let cumulative = 0;
    for (let i = 0; i < this.#bounds.length; i++) {
      cumulative += this.#counts[i]!;
      values.push({ labels: { le: this.#bounds[i]! }, value: cumulative, metricName: `${this.name}_bucket` });
    }
    values.push(
      { labels: { le: '+Inf' }, value: this.#count, metricName: `${this.name}_bucket` },
      { labels: {}, value: this.#sum, metricName: `${this.name}_sum` },
      { labels: {}, value: this.#count, metricName: `${this.name}_count` },
    );
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
