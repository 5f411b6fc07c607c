import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuthDecisionEvent, VerifierEvent } from '@kube-service-auth/verifier';

/** Prometheus metrics of the data store, labelled with the verifier's reason codes. */
export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const decisions = new Counter({
    name: 'kube_auth_decisions_total',
    help: 'Authentication and authorization decisions by outcome and reason code',
    labelNames: ['outcome', 'reason'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'kube_auth_decision_seconds',
    help: 'Time spent authenticating and authorizing a request',
    labelNames: ['outcome'] as const,
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1],
    registers: [registry],
  });
  const upstream = new Counter({
    name: 'kube_auth_upstream_requests_total',
    help: 'Requests to the API server: key-set fetches and TokenReviews, by result',
    labelNames: ['kind', 'result'] as const,
    registers: [registry],
  });
  return {
    registry,
    onDecision(event: AuthDecisionEvent) {
      decisions.inc({ outcome: event.outcome, reason: event.reason });
      latency.observe({ outcome: event.outcome }, event.durationMs / 1000);
    },
    onEvent(event: VerifierEvent) {
      if (event.type === 'jwks_fetch') upstream.inc({ kind: 'jwks', result: event.ok ? 'ok' : 'error' });
      if (event.type === 'token_review') upstream.inc({ kind: 'token_review', result: event.ok ? 'ok' : event.reason });
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
