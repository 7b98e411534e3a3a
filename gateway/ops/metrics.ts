// Prometheus metrics for the gateway (prom-client, one registry per gateway so tests stay isolated).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface GatewayMetrics {
  registry: Registry;
  sessions: Gauge;
  sessionsTotal: Counter<'outcome'>;
  statements: Counter<'action'>;
  /** The statements counter's children per action, bound once (label lookup per statement is slow). */
  statementsBy: Record<'allow' | 'mask' | 'approve' | 'deny', { inc(): void }>;
  decisionSeconds: Histogram;
  upstreamSeconds: Histogram;
  errors: Counter<'kind'>;
}

/** Creates the gateway's metrics on a fresh registry. */
export function createMetrics(): GatewayMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'verdict_process_' });
  const statements = new Counter({ name: 'verdict_statements_total', help: 'Statements decided, by action', labelNames: ['action'], registers: [registry] });
  return {
    registry,
    statementsBy: {
      allow: statements.labels('allow'),
      mask: statements.labels('mask'),
      approve: statements.labels('approve'),
      deny: statements.labels('deny'),
    },
    sessions: new Gauge({ name: 'verdict_sessions', help: 'Client sessions open now', registers: [registry] }),
    sessionsTotal: new Counter({
      name: 'verdict_sessions_total',
      help: 'Client sessions by how authentication ended',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    statements,
    decisionSeconds: new Histogram({
      name: 'verdict_decision_seconds',
      help: 'Time to decide one SQL string (parse, analyze, evaluate or cache hit)',
      buckets: [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.005, 0.01],
      registers: [registry],
    }),
    upstreamSeconds: new Histogram({
      name: 'verdict_upstream_seconds',
      help: 'Time from forwarding a query to the upstream until its ReadyForQuery',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
      registers: [registry],
    }),
    errors: new Counter({ name: 'verdict_errors_total', help: 'Errors by kind', labelNames: ['kind'], registers: [registry] }),
  };
}
