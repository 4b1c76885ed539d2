export interface Stoppable {
  stop(): Promise<void>;
}

type Started<T extends Record<string, () => Promise<Stoppable>>> = {
  [K in keyof T]: Awaited<ReturnType<T[K]>>;
};

/**
 * Runs every starter at once. If any fails, the ones that did start are stopped before the error (naming each
 * failed part) is thrown, so a failed start leaks nothing.
 */
export async function startAll<T extends Record<string, () => Promise<Stoppable>>>(
  starters: T,
): Promise<Started<T>> {
  const names = Object.keys(starters) as (keyof T & string)[];
  const results = await Promise.allSettled(names.map((name) => starters[name]()));
  const failures = names.flatMap((name, i) => {
    const r = results[i];
    return r.status === 'rejected' ? [{ name, error: r.reason as unknown }] : [];
  });
  if (failures.length > 0) {
    await stopAll(results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
    const detail = failures.map(({ name, error }) => `${name}: ${(error as Error)?.message ?? error}`);
    throw new AggregateError(
      failures.map((f) => f.error),
      `could not start ${failures.map((f) => f.name).join(', ')} (the others were stopped again)\n  ${detail.join('\n  ')}`,
    );
  }
  return Object.fromEntries(
    names.map((name, i) => [name, (results[i] as PromiseFulfilledResult<Stoppable>).value]),
  ) as Started<T>;
}

/** Stops all in parallel; every stop runs even if another fails, and the first failure is rethrown after. */
export async function stopAll(parts: Stoppable[]): Promise<void> {
  const results = await Promise.allSettled(parts.map((p) => p.stop()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}
