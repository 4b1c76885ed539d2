import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';

export const HTTP_DURATION_METRIC = 'twins_http_request_duration_seconds';
export const HTTP_REQUESTS_METRIC = 'twins_http_requests_total';
const LABELS = ['method', 'route', 'status'];
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export interface HttpMetrics {
  duration: Histogram<string>;
  requests: Counter<string>;
}

/** The HTTP metrics on `registry`, registered once even when several apps share the registry. */
export function httpMetrics(registry: Registry): HttpMetrics {
  return {
    duration:
      (registry.getSingleMetric(HTTP_DURATION_METRIC) as Histogram<string> | undefined) ??
      new Histogram({
        name: HTTP_DURATION_METRIC,
        help: 'HTTP request duration by method, route pattern and status',
        labelNames: LABELS,
        buckets: BUCKETS,
        registers: [registry],
      }),
    requests:
      (registry.getSingleMetric(HTTP_REQUESTS_METRIC) as Counter<string> | undefined) ??
      new Counter({
        name: HTTP_REQUESTS_METRIC,
        help: 'HTTP requests by method, route pattern and status',
        labelNames: LABELS,
        registers: [registry],
      }),
  };
}

/**
 * One log line and one metric sample per request. The route is the pattern (`/v1/twins/:leadId`), never the
 * URL, so label cardinality stays bounded; the query string contributes its parameter names only, because
 * search values may be personal data. Bodies are never logged.
 */
export function registerObservability(
  fastify: FastifyInstance,
  options: { logger: Logger; metrics?: HttpMetrics; accessLog: boolean },
): void {
  fastify.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    // twins are personal data served as text: a browser must not sniff them into HTML
    reply.header('x-content-type-options', 'nosniff');
  });
  fastify.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions?.url ?? 'unmatched';
    const status = reply.statusCode;
    const seconds = reply.elapsedTime / 1000;
    const labels = { method: req.method, route, status: String(status) };
    options.metrics?.duration.observe(labels, seconds);
    options.metrics?.requests.inc(labels);
    if (!options.accessLog) return;
    const query = req.query && typeof req.query === 'object' ? Object.keys(req.query) : [];
    options.logger[status >= 500 ? 'warn' : 'info'](
      {
        reqId: req.id,
        method: req.method,
        route,
        status,
        durationMs: Math.round(reply.elapsedTime * 100) / 100,
        ...(query.length > 0 ? { queryParams: query.slice(0, 20) } : {}),
      },
      'request completed',
    );
  });
}
