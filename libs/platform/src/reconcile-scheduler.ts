import { ReconcileReport, ReconcileUseCase } from '@twinstore/application';
import { counter } from './metrics';
import { errorName } from './runtime';
import { TwinsRuntime } from './runtime.types';

export interface ReconcileSchedule {
  stop(): void;
  /** One run now (runs never overlap: a call during a run waits for it and returns its report). */
  runNow(): Promise<ReconcileReport>;
}

/**
 * The writer runs the reconciler on a timer: versions accepted (202, day-blob written) whose process died
 * before publishing are announced within one interval, without an operator. Every replica may run it: the
 * events carry the save's own id, so a version announced twice is a duplicate every consumer ignores.
 */
export function startReconcileSchedule(runtime: TwinsRuntime): ReconcileSchedule {
  const { intervalSeconds, windowHours, graceSeconds } = runtime.config.reconcile;
  const published = counter(
    runtime.metrics,
    'twins_reconcile_published_total',
    'Versions accepted but never announced, published by the scheduled reconcile',
    [],
  );
  const runs = counter(runtime.metrics, 'twins_reconcile_runs_total', 'Scheduled reconcile runs', [
    'outcome',
  ]);
  const reconcile = new ReconcileUseCase({
    content: runtime.content,
    catalog: runtime.catalog,
    publisher: runtime.publisher,
    clock: runtime.clock,
  });
  let running: Promise<ReconcileReport> | undefined;
  const runNow = () => {
    running ??= (async () => {
      try {
        const now = runtime.clock.now();
        const report = await reconcile.execute({
          since: new Date(now.getTime() - windowHours * 3_600_000),
          graceMs: graceSeconds * 1000,
        });
        published.inc(report.published);
        runs.inc({ outcome: report.corrupt.count + report.invalid.count > 0 ? 'problems' : 'ok' });
        runtime.logger.info(
          {
            checked: report.checked,
            unannounced: report.unannounced,
            published: report.published,
            corrupt: report.corrupt.count,
            invalid: report.invalid.count,
            elapsedMs: report.elapsedMs,
          },
          'reconcile done',
        );
        return report;
      } catch (e) {
        runs.inc({ outcome: 'failed' });
        throw e;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
  if (intervalSeconds === 0) return { stop: () => {}, runNow };
  const timer = setInterval(
    () => void runNow().catch((e) => runtime.logger.error({ err: errorName(e) }, 'reconcile failed')),
    intervalSeconds * 1000,
  );
  timer.unref();
  return { stop: () => clearInterval(timer), runNow };
}
