import { Presets, SingleBar } from 'cli-progress';
import pino from 'pino';
import {
  Clock,
  METADATA_SOURCES,
  RebuildProjectionsUseCase,
  RebuildReport,
  TieringActivity,
} from '@twinstore/application';
import { createHandler, createRuntime, loadConfigOrExit, TwinsConfig } from '@twinstore/platform';

export interface ReindexArgs {
  /** Read, verify and recover everything; write nothing. */
  dryRun?: boolean;
  /** Leads rebuilt at once (default 16). */
  concurrency?: number;
  json?: boolean;
  progress?: boolean;
  /** Where the summary goes (default stdout). */
  out?: NodeJS.WritableStream;
  /** Where progress goes (default stderr); a bar only when it is a TTY, plain lines otherwise. */
  progressOut?: NodeJS.WritableStream & { isTTY?: boolean };
  /** Default: the TWINS_* environment. */
  config?: TwinsConfig;
  /** Default: the system clock (tests simulate time). */
  clock?: Clock;
}

/**
 * `twins reindex`: rebuilds the catalog and pointers, the search index and the tiering records (placements
 * and the cold twins' bundle offset index included) from the blob store alone: the day-blobs and the bundles'
 * sidecar manifests, through the consumers' own handlers (see RebuildProjectionsUseCase). Safe on live
 * projections and next to running consumers: every write is version-guarded. The cache is left alone (it
 * fills on reads). No data moves: the tiering service's next sweep does that. Exit code 1 when anything needs
 * attention: a failed delivery, an unreadable lead, a corrupt or invalid day-blob or manifest entry, a bundle
 * that could not be read (no manifest, its rehydrated copy pending: run it again later).
 */
export async function reindexCommand(
  args: ReindexArgs = {},
): Promise<{ code: number; report: RebuildReport }> {
  const out = args.out ?? process.stdout;
  const config = args.config ?? loadConfigOrExit();
  const runtime = await createRuntime(config, {
    service: 'twins-cli',
    logger: pino({ level: 'silent' }),
    clock: args.clock,
  });
  const progress = cliProgress(args.progress === true, args.progressOut ?? process.stderr, 'reindex');
  try {
    const rebuild = new RebuildProjectionsUseCase({
      content: runtime.content,
      handlers: {
        writer: createHandler(runtime, 'writer'),
        indexer: createHandler(runtime, 'indexer'),
        tiering: createHandler(runtime, 'tiering'),
      },
      ...(typeof (runtime.activity as Partial<TieringActivity>).setPlacement === 'function'
        ? { ledger: runtime.activity as TieringActivity, thresholds: config.tiering }
        : {}),
      clock: runtime.clock,
    });
    const report = await rebuild.execute({
      dryRun: args.dryRun,
      concurrency: args.concurrency,
      onProgress: (p) =>
        progress.update(
          p.phase === 'scan'
            ? { done: 0, total: 0, detail: `scanning: ${p.blobs} day-blobs, ${p.bundles} bundles` }
            : { done: p.done, total: p.leads, detail: `failed ${p.failed}` },
        ),
    });
    progress.stop();
    if (args.json) out.write(`${JSON.stringify(report, null, 2)}\n`);
    else printReindexReport(out, report);
    const attention =
      report.failures.count +
      report.unreadable.count +
      report.corrupt.count +
      report.invalid.count +
      report.bundles.unread.count;
    return { code: attention > 0 ? 1 : 0, report };
  } finally {
    progress.stop();
    await runtime.close();
  }
}

const SOURCE_LABEL: Record<(typeof METADATA_SOURCES)[number], string> = {
  pointer: 'pointer',
  manifest: 'bundle manifest',
  'front-matter': 'front matter',
  'pointer-other-version': "older version's pointer",
  defaults: 'defaults',
};

function printReindexReport(out: NodeJS.WritableStream, r: RebuildReport): void {
  const lines = [
    `reindex${r.dryRun ? ' (dry run: nothing written)' : ''}: ${r.leads} twins from ${r.blobs} day-blobs and ` +
      `${r.bundles.listed} bundles in ` +
      `${(r.elapsedMs / 1000).toFixed(2)} s (${r.twinsPerSecond.toFixed(1)} twins/s)`,
    `  rebuilt: ${r.rebuilt}, failed deliveries: ${r.failures.count}, unreadable twins: ${r.unreadable.count}`,
    ...Object.entries(r.outcomes).map(
      ([name, o]) => `  ${name.padEnd(8)} ${o.done} applied, ${o.skip} already current`,
    ),
    `  cold twins from bundle manifests: ${r.bundles.cold} (${r.bundles.entries} entries listed, ` +
      `${r.bundles.backfilled} manifests written from a bundle copy, ${r.bundles.unread.count} bundles unread)`,
    `  history entries added to pointers: ${r.historyEntries}`,
    `  metadata from: ${METADATA_SOURCES.map((s) => `${SOURCE_LABEL[s]} ${r.metadata[s]}`).join(', ')}`,
  ];
  if (r.unrecoveredMetadata.length > 0) {
    const n = r.metadata['pointer-other-version'] + r.metadata.defaults;
    lines.push(
      `  ${n} twin(s) had neither a pointer at their version nor front matter: ${r.unrecoveredMetadata.join(', ')}` +
        (n > r.unrecoveredMetadata.length ? ', ...' : ''),
    );
  }
  lines.push(
    `  invalid day-blobs: ${r.invalid.count}, corrupt (sha256 mismatch): ${r.corrupt.count}, archived: ${r.archived}`,
  );
  for (const p of [...r.invalid.sample, ...r.corrupt.sample, ...r.bundles.unread.sample]) {
    lines.push(`    ${p.path}: ${p.reason}`);
  }
  for (const f of r.failures.sample) lines.push(`    failed ${f.leadId} (${f.subscription}): ${f.reason}`);
  for (const leadId of r.unreadable.sample) lines.push(`    unreadable ${leadId}`);
  if (!r.dryRun) {
    lines.push(
      `  placements restored: hot ${r.placements.hot}, warm ${r.placements.warm}, cold ${r.placements.cold}; ` +
        `retired bundles recorded: ${r.retired}; hot twins given an access now: ${r.accessAssumed} ` +
        '(no data moved: the tiering sweep moves what is due)',
    );
  }
  out.write(`${lines.join('\n')}\n`);
}

export interface CliProgress {
  update(state: { done: number; total: number; detail: string }): void;
  /** Idempotent. */
  stop(): void;
}

/**
 * Progress on a stream: a cli-progress bar when it is a TTY, else a plain line every `intervalMs` and a final
 * one, so a log always ends with the last count.
 */
export function cliProgress(
  enabled: boolean,
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  label: string,
  intervalMs = 2000,
): CliProgress {
  if (!enabled) return { update: () => undefined, stop: () => undefined };
  const started = performance.now();
  let state = { done: 0, total: 0, detail: '' };
  let stopped = false;
  const rate = () => (state.done * 1000) / Math.max(1, performance.now() - started);
  if (stream.isTTY) {
    const bar = new SingleBar(
      {
        stream,
        format: `${label} [{bar}] {percentage}% | {value}/{total} | {rate}/s | {detail}`,
        hideCursor: true,
        etaBuffer: 200,
      },
      Presets.shades_classic,
    );
    bar.start(1, 0, { rate: '0', detail: '' });
    return {
      update(next) {
        state = next;
        bar.setTotal(Math.max(1, next.total));
        bar.update(next.done, { rate: rate().toFixed(0), detail: next.detail });
      },
      stop() {
        if (stopped) return;
        stopped = true;
        bar.stop();
      },
    };
  }
  const line = () =>
    stream.write(
      `${label}: ${state.done}/${state.total}, ${rate().toFixed(1)}/s${state.detail ? `, ${state.detail}` : ''}\n`,
    );
  const timer = setInterval(line, intervalMs);
  timer.unref();
  return {
    update(next) {
      state = next;
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      line();
    },
  };
}
