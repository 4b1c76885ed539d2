import pino from 'pino';
import { Clock, METADATA_SOURCES, ReconcileReport, ReconcileUseCase } from '@twinstore/application';
import { createRuntime, loadConfigOrExit, TwinsConfig } from '@twinstore/platform';
import { cliProgress } from './reindex.command';

export interface ReconcileArgs {
  /** Check versions accepted in the last this many hours (default 48). */
  sinceHours?: number;
  /** Leave versions younger than this alone: their save may still be publishing (default 300). */
  graceSeconds?: number;
  /** Day-blobs checked and events published per batch (default 100). */
  batchSize?: number;
  /** Find and report; publish nothing. */
  dryRun?: boolean;
  json?: boolean;
  progress?: boolean;
  out?: NodeJS.WritableStream;
  progressOut?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Default: the TWINS_* environment. */
  config?: TwinsConfig;
  /** Default: the system clock (tests simulate time). */
  clock?: Clock;
}

/**
 * `twins reconcile`: publishes the `twin.saved.v1` of versions that were accepted (their day-blob is written)
 * but never announced (the process died before publishing), see ReconcileUseCase. The consumers, wherever
 * they run, then project them. Exit code 1 when a corrupt or invalid day-blob was found.
 */
export async function reconcileCommand(
  args: ReconcileArgs = {},
): Promise<{ code: number; report: ReconcileReport }> {
  const out = args.out ?? process.stdout;
  const sinceHours = args.sinceHours ?? 48;
  const graceSeconds = args.graceSeconds ?? 300;
  if (!(sinceHours > 0)) throw new RangeError(`since-hours must be a positive number, got ${sinceHours}`);
  if (!(graceSeconds >= 0)) throw new RangeError(`grace-seconds must be >= 0, got ${graceSeconds}`);
  const config = args.config ?? loadConfigOrExit();
  const runtime = await createRuntime(config, {
    service: 'twins-cli',
    logger: pino({ level: 'silent' }),
    clock: args.clock,
  });
  const progress = cliProgress(args.progress === true, args.progressOut ?? process.stderr, 'reconcile');
  try {
    const now = runtime.clock.now();
    const report = await new ReconcileUseCase({
      content: runtime.content,
      catalog: runtime.catalog,
      publisher: runtime.publisher,
      clock: runtime.clock,
    }).execute({
      since: new Date(now.getTime() - sinceHours * 3_600_000),
      graceMs: graceSeconds * 1000,
      batchSize: args.batchSize,
      dryRun: args.dryRun,
      onProgress: (p) =>
        progress.update({
          done: p.checked,
          total: p.checked,
          detail: `${p.unannounced} unannounced, ${p.published} published`,
        }),
    });
    progress.stop();
    const writerBacklog = (await runtime.busAdmin.stats().catch(() => [])).find(
      (s) => s.subscription === 'writer',
    )?.active;
    if (args.json) out.write(`${JSON.stringify({ ...report, writerBacklog }, null, 2)}\n`);
    else printReconcileReport(out, report, writerBacklog);
    return { code: report.corrupt.count + report.invalid.count > 0 ? 1 : 0, report };
  } finally {
    progress.stop();
    await runtime.close();
  }
}

function printReconcileReport(out: NodeJS.WritableStream, r: ReconcileReport, writerBacklog?: number): void {
  const lines = [
    `reconcile${r.dryRun ? ' (dry run: nothing published)' : ''}: versions accepted ${r.window.from} .. ${r.window.to}`,
    `  checked ${r.checked} day-blobs in ${(r.elapsedMs / 1000).toFixed(2)} s: ${r.announced} announced, ` +
      `${r.unannounced} never announced, ${r.published} published, ${r.skipped} skipped`,
    ...r.events.map((e) => `    ${r.dryRun ? 'would publish' : 'published'} ${e.eventId}`),
  ];
  if (r.unannounced > r.events.length) lines.push(`    ... and ${r.unannounced - r.events.length} more`);
  if (r.unannounced > 0) {
    lines.push(`  metadata from: ${METADATA_SOURCES.map((s) => `${s} ${r.metadata[s]}`).join(', ')}`);
  }
  if (r.unrecoveredMetadata.length > 0) {
    lines.push(
      `  published without their own metadata (no front matter; JSON-form metadata is only in the lost event): ` +
        r.unrecoveredMetadata.join(', '),
    );
  }
  if (r.invalid.count + r.corrupt.count > 0) {
    lines.push(`  invalid day-blobs: ${r.invalid.count}, corrupt (sha256 mismatch): ${r.corrupt.count}`);
    for (const p of [...r.invalid.sample, ...r.corrupt.sample]) lines.push(`    ${p.path}: ${p.reason}`);
  }
  if (writerBacklog && writerBacklog > 0) {
    lines.push(
      `  note: the writer has ${writerBacklog} message(s) waiting; versions among them count as unannounced ` +
        'and were published again (harmless: same event id, idempotent consumers)',
    );
  }
  out.write(`${lines.join('\n')}\n`);
}
