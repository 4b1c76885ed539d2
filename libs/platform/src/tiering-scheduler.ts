import { TwinsRuntime } from './runtime.types';
import { counter } from './metrics';
import { errorName } from './runtime';

/** Re-derives every twin's tier on an interval (moving data between stores is a later step). */
export function startTieringSweeps(runtime: TwinsRuntime): { stop(): void; sweepNow(): Promise<number> } {
  const changed = counter(
    runtime.metrics,
    'twins_tier_changes_total',
    'Twins whose tier changed in a sweep',
    [],
  );
  const sweepNow = async () => {
    const n = await runtime.activity.sweep(runtime.clock.now(), runtime.config.tiering);
    changed.inc(n);
    runtime.logger.info({ changed: n }, 'tiering sweep done');
    return n;
  };
  const timer = setInterval(
    () => void sweepNow().catch((e) => runtime.logger.error({ err: errorName(e) }, 'tiering sweep failed')),
    runtime.config.tiering.sweepIntervalSeconds * 1000,
  );
  timer.unref();
  return { stop: () => clearInterval(timer), sweepNow };
}
