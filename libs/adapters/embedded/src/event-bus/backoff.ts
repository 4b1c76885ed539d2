export interface BackoffRange {
  baseMs: number;
  maxMs: number;
}

export interface PollRange {
  min: number;
  max: number;
}

/**
 * Delay before a failed delivery becomes available again: exponential in the delivery count, capped, with
 * "equal jitter" (half fixed, half random) so a burst of failures does not come back as a burst.
 */
export function retryDelayMs(
  deliveryCount: number,
  range: BackoffRange,
  random: () => number = Math.random,
): number {
  const exponent = Math.max(0, Math.min(deliveryCount - 1, 30));
  const ceiling = Math.min(range.maxMs, range.baseMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** The next idle poll interval: doubles on every empty poll up to the maximum. */
export function nextIdleDelayMs(current: number, range: PollRange): number {
  return Math.min(range.max, Math.max(range.min, current * 2));
}
