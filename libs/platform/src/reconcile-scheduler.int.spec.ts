import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EventPublisher, SaveTwinUseCase } from '@twinstore/application';
import { documentFromMarkdown, VersionGenerator } from '@twinstore/domain';
import { freePort, makeTempDir, TempDir, waitFor } from '@twinstore/testing';
import { loadConfig } from './config';
import { createRuntime } from './runtime';
import { TwinsRuntime } from './runtime.types';
import { startWorker, WorkerHandle } from './worker';

/** The process dies after the blob write, before the event is out. */
const crashingPublisher: EventPublisher = {
  publish: async () => {
    throw new Error('process died before publishing');
  },
  close: async () => undefined,
};

describe('the writer reconciles on a schedule', () => {
  let tmp: TempDir;
  let runtime: TwinsRuntime;
  let writer: WorkerHandle | undefined;

  beforeEach(async () => {
    tmp = await makeTempDir('reconcile-schedule');
  });
  afterEach(async () => {
    await writer?.close();
    await runtime?.close();
    await tmp.cleanup();
  });

  it('a version accepted but never announced reaches the catalog without an operator', async () => {
    const config = loadConfig({
      TWINS_DATA_DIR: tmp.dir,
      TWINS_RECONCILE_INTERVAL_S: '1',
      TWINS_RECONCILE_GRACE_S: '0',
      TWINS_MANAGEMENT_PORT: String(await freePort()),
      TWINS_LOG_LEVEL: 'silent',
    });
    runtime = await createRuntime(config, { service: 'writer', logger: pino({ level: 'silent' }) });
    const crashing = new SaveTwinUseCase(
      runtime.content,
      crashingPublisher,
      new VersionGenerator(() => runtime.clock.now()),
      runtime.clock,
    );
    await expect(
      crashing.execute({
        leadId: 'lost-then-found',
        document: documentFromMarkdown(Buffer.from('---\nclassification: hot\n---\n# Lost\n', 'utf8')),
      }),
    ).rejects.toThrow('process died before publishing');
    expect(await runtime.catalog.get('lost-then-found')).toBeNull();

    writer = await startWorker(runtime, 'writer');
    const record = await waitFor(
      'the scheduled reconcile and the writer',
      () => runtime.catalog.get('lost-then-found'),
      20_000,
    );
    expect(record).toMatchObject({ leadId: 'lost-then-found' });
    const metrics = await runtime.metrics.metrics();
    expect(metrics).toMatch(/twins_reconcile_published_total\{[^}]*\} 1\b/);
  }, 30_000);

  it('TWINS_RECONCILE_INTERVAL_S=0 schedules nothing', async () => {
    const config = loadConfig({
      TWINS_DATA_DIR: tmp.dir,
      TWINS_RECONCILE_INTERVAL_S: '0',
      TWINS_MANAGEMENT_PORT: String(await freePort()),
    });
    runtime = await createRuntime(config, { service: 'writer', logger: pino({ level: 'silent' }) });
    writer = await startWorker(runtime, 'writer');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await runtime.metrics.metrics()).not.toMatch(/twins_reconcile_runs_total\{/);
  }, 30_000);
});
