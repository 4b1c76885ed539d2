import { describe, expect, it } from 'vitest';
import { liveCost, loadPriceTable, parsePrometheusText, toCents } from './index';

const METRICS = `# HELP twins_billable_operations_total Billable operations
# TYPE twins_billable_operations_total counter
twins_billable_operations_total{service="blob",operation="write",tier="hot"} 3600
twins_billable_operations_total{service="blob",operation="read",tier="cool"} 360
twins_billable_operations_total{service="blob",operation="delete",tier="hot"} 10
twins_billable_operations_total{service="cosmos",operation="request_units",tier="hot"} 19800
twins_billable_operations_total{service="cosmos",operation="write",tier="hot"} 3600
twins_billable_operations_total{service="table",operation="transaction",tier="none"} 7200
twins_billable_operations_total{service="serviceBus",operation="send",tier="none"} 3600
twins_billable_operations_total{service="search",operation="query",tier="none"} 100
# TYPE twins_process_start_time_seconds gauge
twins_process_start_time_seconds{service="ingest-api"} 1764374400
`;

describe('live cost report', () => {
  it('parses the counters and the process start time', () => {
    const parsed = parsePrometheusText(METRICS);
    expect(parsed.processStartSeconds).toBe(1764374400);
    expect(parsed.samples).toHaveLength(8);
    expect(parsed.samples[0]).toEqual({ service: 'blob', operation: 'write', tier: 'hot', value: 3600 });
  });

  it('extrapolates an hour of counts to a month and prices them', () => {
    const table = loadPriceTable();
    const cost = liveCost(
      [{ source: 'test', seconds: 3600, samples: parsePrometheusText(METRICS).samples }],
      table,
    );
    const line = (service: string, operation: string) =>
      cost.lines.find((l) => l.service === service && l.operation === operation)!;
    // 3,600 writes an hour = 730 x 3,600 a month
    expect(line('blob', 'write').perMonth).toBeCloseTo(730 * 3600, 6);
    expect(line('blob', 'write').cents).toBe(toCents(((730 * 3600) / 1e4) * 0.055));
    expect(line('blob', 'read').cents).toBe(toCents(((730 * 360) / 1e4) * 0.01));
    expect(line('blob', 'delete').cents).toBe(0);
    expect(line('cosmos', 'request_units').cents).toBe(toCents(((730 * 19800) / 1e6) * 0.25));
    expect(line('cosmos', 'write').cents).toBe(0);
    expect(line('table', 'transaction').cents).toBe(toCents(((730 * 7200) / 1e4) * 0.00036));
    // 2.6M Service Bus operations a month: inside the 13M included
    expect(line('serviceBus', 'send').cents).toBe(0);
    expect(line('search', 'query').note).toMatch(/search unit-hour/);
    expect(cost.totalCents).toBe(cost.lines.reduce((n, l) => n + l.cents, 0));
  });
});
