import { describe, expect, it } from 'vitest';
import { nextIdleDelayMs, retryDelayMs } from './backoff';

describe('retryDelayMs', () => {
  const range = { baseMs: 200, maxMs: 30_000 };

  it('doubles with each delivery, between half and all of the exponential step', () => {
    expect(retryDelayMs(1, range, () => 0)).toBe(100);
    expect(retryDelayMs(1, range, () => 1)).toBe(200);
    expect(retryDelayMs(2, range, () => 0)).toBe(200);
    expect(retryDelayMs(4, range, () => 1)).toBe(1_600);
  });

  it('never exceeds the maximum, however many deliveries', () => {
    expect(retryDelayMs(9, range, () => 1)).toBe(30_000);
    expect(retryDelayMs(1_000, range, () => 1)).toBe(30_000);
    expect(retryDelayMs(1_000, range, () => 0)).toBe(15_000);
  });

  it('spreads simultaneous failures (jitter)', () => {
    const delays = new Set(Array.from({ length: 50 }, () => retryDelayMs(5, range)));
    expect(delays.size).toBeGreaterThan(10);
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(1_600);
    expect(Math.max(...delays)).toBeLessThanOrEqual(3_200);
  });
});

describe('nextIdleDelayMs', () => {
  it('doubles from the minimum up to the maximum', () => {
    const range = { min: 20, max: 250 };
    const seen = [20];
    while (seen.length < 7) seen.push(nextIdleDelayMs(seen[seen.length - 1], range));
    expect(seen).toEqual([20, 40, 80, 160, 250, 250, 250]);
  });
});
