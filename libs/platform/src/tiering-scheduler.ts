import { TwinsRuntime } from './runtime.types';
import { counter } from './metrics';
import { errorName } from './runtime';

export interface TieringSweeps {
  stop(): void;
  /** One sweep now: moves twins between tiers under the lease, compacts bundles, advances rehydrations. */
  sweepNow(): Promise<number>;
}

/**
 * The tiering service's schedule: every TWINS_TIER_SWEEP_INTERVAL_S, one sweep under the `tiering-sweep`
 * lease (replicas that do not get it skip the round), then every pending rehydration job is advanced.
 * Returns (and counts) the twins that changed tier.
 */
export function startTieringSweeps(runtime: TwinsRuntime): TieringSweeps {
  const changed = counter(
    runtime.metrics,
    'twins_tier_changes_total',
    'Twins whose tier changed in a sweep',
    [],
  );
  const skipped = counter(
    runtime.metrics,
    'twins_tier_sweeps_skipped_total',
    'Sweeps skipped because another replica held the lease',
    [],
  );
  const { policy, warmAfterDays, coldAfterDays } = runtime.config.tiering;
  runtime.logger.info({ policy, warmAfterDays, coldAfterDays }, 'tier policy');
  const sweepNow = async () => {
    if (!runtime.tiering) {
      const n = await runtime.activity.sweep(runtime.clock.now(), runtime.config.tiering);
      changed.inc(n);
      return n;
    }
    const result = await runtime.tiering.lifecycle.sweep();
    const rehydrated = await runtime.tiering.rehydration.advanceAll();
    if (!result) {
      skipped.inc();
      runtime.logger.info({ rehydrated }, 'tiering sweep skipped: another replica holds the lease');
      return 0;
    }
    const n = Object.values(result.moved).reduce((a, b) => a + b, 0);
    changed.inc(n);
    runtime.logger.info(
      { changed: n, moved: result.moved, bundles: result.bundles, compacted: result.compacted, rehydrated },
      'tiering sweep done',
    );
    return n;
  };
  const timer = setInterval(
    () => void sweepNow().catch((e) => runtime.logger.error({ err: errorName(e) }, 'tiering sweep failed')),
    runtime.config.tiering.sweepIntervalSeconds * 1000,
  );
  timer.unref();
  return { stop: () => clearInterval(timer), sweepNow };
}
