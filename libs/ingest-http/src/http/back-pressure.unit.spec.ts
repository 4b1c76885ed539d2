import { describe, expect, it } from 'vitest';
import { backendBusy, BusBacklogGate } from './back-pressure';

const tick = () => new Promise((resolve) => setImmediate(resolve));

function gate(backlog: (atMost: number) => Promise<number>, errors: unknown[] = []) {
  let t = 0;
  const g = new BusBacklogGate({
    backlog,
    max: 100,
    intervalMs: 1000,
    now: () => t,
    onError: (e) => errors.push(e),
  });
  return { g, advance: (ms: number) => void (t += ms) };
}

describe('BusBacklogGate', () => {
  it('samples at most once per interval however many requests ask, counting only up to max + 1', async () => {
    const asked: number[] = [];
    let value = 500;
    const { g, advance } = gate(async (atMost) => (asked.push(atMost), Math.min(value, atMost)));

    expect(g.check()).toBeUndefined(); // no sample yet: admitted, one sample started
    await tick();
    for (let i = 0; i < 100; i++) expect(g.check()).toEqual({ backlog: 101, retryAfterSeconds: 5 });
    await tick();
    expect(asked).toEqual([101]);

    value = 10;
    advance(999);
    g.check();
    await tick();
    expect(asked).toHaveLength(1);
    advance(1);
    expect(g.check()).toBeDefined(); // the old sample still answers while the new one runs
    await tick();
    expect(asked).toHaveLength(2);
    expect(g.check()).toBeUndefined();
  });

  it('admits writes when the sample is stale or sampling fails, and reports a failure once per run', async () => {
    const errors: unknown[] = [];
    let fail = false;
    const { g, advance } = gate(async () => {
      if (fail) throw new Error('bus down');
      return 1000;
    }, errors);
    g.check();
    await tick();
    expect(g.check()).toBeDefined();

    fail = true;
    for (let i = 0; i < 10; i++) {
      advance(1000);
      g.check();
      await tick();
    }
    expect(g.check()).toBeUndefined(); // five intervals without a sample: fail open
    expect(errors).toHaveLength(1);

    fail = false;
    advance(1000);
    g.check();
    await tick();
    expect(g.check()).toBeDefined();
  });

  it('survives a backlog source that throws synchronously', async () => {
    const errors: unknown[] = [];
    const { g } = gate(() => {
      throw new Error('not a promise');
    }, errors);
    expect(g.check()).toBeUndefined();
    await tick();
    expect(errors).toHaveLength(1);
    await g.refresh(); // not stuck on the first attempt
  });
});

describe('backendBusy', () => {
  const restError = (statusCode: number, headers: Record<string, string> = {}, code?: string) =>
    Object.assign(new Error('The server is busy. RequestId:abc Time:2026'), {
      name: 'RestError',
      statusCode,
      code,
      response: { headers: new Map(Object.entries(headers)) },
    });

  it('recognises Azure throttling and busy answers, with their retry hints clamped to 1..60 s', () => {
    expect(backendBusy(restError(503, {}, 'ServerBusy'))).toEqual({
      kind: 'status 503',
      retryAfterSeconds: 2,
    });
    expect(backendBusy(restError(429, { 'retry-after': '7' }))?.retryAfterSeconds).toBe(7);
    expect(backendBusy(restError(429, { 'retry-after-ms': '250' }))?.retryAfterSeconds).toBe(1);
    expect(backendBusy(restError(503, { 'retry-after': '3600' }))?.retryAfterSeconds).toBe(60);
    // Cosmos: `code` is the status, the hint in milliseconds
    const cosmos = Object.assign(new Error('Request rate is large'), { code: 429, retryAfterInMs: 1500 });
    expect(backendBusy(cosmos)?.retryAfterSeconds).toBe(2);
    const serviceBus = Object.assign(new Error('busy'), { name: 'ServiceBusError', code: 'ServiceBusy' });
    expect(backendBusy(serviceBus)?.kind).toBe('ServiceBusy');
  });

  it('recognises SQLITE_BUSY, also wrapped as a cause', () => {
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    expect(backendBusy(busy)).toEqual({ kind: 'SQLITE_BUSY', retryAfterSeconds: 1 });
    expect(backendBusy(new Error('save failed', { cause: busy }))?.kind).toBe('SQLITE_BUSY');
  });

  it('leaves faults alone', () => {
    expect(backendBusy(new Error('boom'))).toBeUndefined();
    expect(backendBusy(restError(500))).toBeUndefined();
    expect(backendBusy(restError(404))).toBeUndefined();
    expect(backendBusy(Object.assign(new Error('x'), { code: 'SQLITE_IOERR' }))).toBeUndefined();
    expect(backendBusy(Object.assign(new Error('x'), { statusCode: 503 }))).toBeUndefined();
    expect(backendBusy('a string')).toBeUndefined();
    expect(backendBusy(undefined)).toBeUndefined();
  });
});
