import { Writable } from 'node:stream';
import pino from 'pino';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  CONSUMER_NAMES,
  CONSUMERS,
  EventPublisher,
  readPointer,
  ReconcileUseCase,
  SaveTwinUseCase,
  savedEventId,
} from '@twinstore/application';
import { TwinEvent, TwinEventOf } from '@twinstore/contracts';
import {
  documentFromJson,
  documentFromMarkdown,
  parseMetadata,
  TwinDocument,
  Version,
  VersionGenerator,
} from '@twinstore/domain';
import { generatePersona } from '@twinstore/personas';
import { createHandler, createRuntime, loadConfig, TwinsConfig, TwinsRuntime } from '@twinstore/platform';
import { AzureTestBackends, makeTempDir, startAzureTestBackends, TempDir, waitFor } from '@twinstore/testing';
import { reconcileCommand } from './reconcile.command';

const HOUR_MS = 3_600_000;
const silent = pino({ level: 'silent' });

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    this.text += chunk.toString('utf8');
    cb();
  }
}

/** Forwards to the real bus and keeps what went through it. */
class RecordingPublisher implements EventPublisher {
  events: TwinEvent[] = [];
  calls: number[] = [];
  constructor(private readonly inner: EventPublisher) {}
  async publish(events: TwinEvent[]) {
    this.calls.push(events.length);
    await this.inner.publish(events);
    this.events.push(...events);
  }
  async close() {}
}

/** The process dies after the blob write, before the event is out: the publish never happens. */
const crashingPublisher: EventPublisher = {
  publish: async () => {
    throw new Error('process died before publishing');
  },
  close: async () => undefined,
};

const markdownDoc = (metadata: Record<string, unknown>, body: string): TwinDocument =>
  documentFromMarkdown(Buffer.from(`---\n${stringify(metadata)}---\n${body}`, 'utf8'));

describe('twins reconcile: versions accepted but never announced are published', () => {
  let tmp: TempDir;
  let config: TwinsConfig;
  let t: number;
  const clock = { now: () => new Date(t) };
  let runtime: TwinsRuntime;
  let versions: VersionGenerator;
  /** SaveTwinUseCase itself, wired to a publisher that dies: the blob write happens exactly as in a save. */
  let crashingSave: SaveTwinUseCase;

  const drain = async () => {
    const running = CONSUMER_NAMES.map((name) =>
      runtime.subscriber.subscribe(name, createHandler(runtime, name), {
        concurrency: 8,
        types: CONSUMERS[name],
      }),
    );
    try {
      await waitFor(
        'consumers to drain',
        async () => (await runtime.busAdmin.stats()).every((s) => s.active === 0),
        30_000,
        20,
      );
    } finally {
      await Promise.all(running.map((s) => s.close(5_000)));
    }
  };
  const backlog = async () => (await runtime.busAdmin.stats()).map((s) => s.active);

  const acceptThenCrash = async (leadId: string, document: TwinDocument): Promise<Version> => {
    const before = new Set<string>();
    for await (const b of runtime.content.list('digital-twins/'))
      before.add(`${b.path}@${b.metadata.version}`);
    await expect(crashingSave.execute({ leadId, document })).rejects.toThrow(
      'process died before publishing',
    );
    for await (const b of runtime.content.list('digital-twins/')) {
      if (b.metadata.leadid === leadId && !before.has(`${b.path}@${b.metadata.version}`))
        return b.metadata.version as Version;
    }
    throw new Error('the crashed save left no blob');
  };

  const reconcile = (publisher: EventPublisher, options: { dryRun?: boolean; batchSize?: number } = {}) =>
    new ReconcileUseCase({ content: runtime.content, catalog: runtime.catalog, publisher, clock }).execute({
      graceMs: 5 * 60_000,
      ...options,
    });

  beforeEach(async () => {
    tmp = await makeTempDir('reconcile');
    config = loadConfig({ TWINS_DATA_DIR: tmp.dir });
    t = Date.UTC(2026, 2, 10, 8);
    runtime = await createRuntime(config, { service: 'test', logger: silent, clock });
    versions = new VersionGenerator(() => clock.now());
    crashingSave = new SaveTwinUseCase(runtime.content, crashingPublisher, versions, clock);
  });

  afterEach(async () => {
    await runtime.close();
    await tmp.cleanup();
  });

  it('publishes each lost version once, with the save event id; projections converge; a second run publishes nothing', async () => {
    // Three days ago a first save died: outside the default 48 h window, never looked at.
    t -= 72 * HOUR_MS;
    const outside = await acceptThenCrash(
      'lost-long-ago',
      documentFromJson({ markdown: 'too old', metadata: {} }),
    );
    // Yesterday, ten twins were saved and projected normally.
    t += 48 * HOUR_MS;
    const personas = Array.from({ length: 10 }, (_, i) => generatePersona(500 + i));
    for (const p of personas) {
      await runtime.useCases.save.execute({
        leadId: p.leadId,
        document: documentFromJson({ markdown: p.markdown, metadata: p.metadata }),
      });
    }
    await drain();
    t += 24 * HOUR_MS;

    // Today, four saves die between the blob write and the publish.
    t -= 2 * HOUR_MS;
    const jsonNew = await acceptThenCrash(
      personas[0].leadId,
      documentFromJson({
        markdown: `${personas[0].markdown}\nlostjsonword\n`,
        metadata: { ...personas[0].metadata, classification: 'cold' },
      }),
    );
    const frontMatter = {
      age: 61,
      income: 87_000,
      classification: 'hot',
      location: 'Hobart',
      tags: ['Retiree'],
    };
    const markdownNew = await acceptThenCrash(
      personas[1].leadId,
      markdownDoc(frontMatter, '# Pat\nlostmdword\n'),
    );
    const brandNew = await acceptThenCrash(
      'lost-first-version',
      documentFromJson({ markdown: '# New\nlostnewword\n', metadata: { age: 40 } }),
    );
    const big = await acceptThenCrash(
      'lost-big',
      markdownDoc(
        { classification: 'warm', tags: ['big'] },
        `# Big\nlostbigword\n${'x'.repeat(120 * 1024)}\n`,
      ),
    );
    t += 2 * HOUR_MS;
    // And one save is publishing right now (inside the grace period): not the reconciler's business yet.
    const inFlight = await acceptThenCrash(
      personas[2].leadId,
      documentFromJson({ markdown: 'in flight', metadata: {} }),
    );
    expect(await backlog()).toEqual(CONSUMER_NAMES.map(() => 0));

    const dry = await reconcile(new RecordingPublisher(runtime.publisher), { dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, unannounced: 4, published: 0 });
    expect(await backlog()).toEqual(CONSUMER_NAMES.map(() => 0));

    const publisher = new RecordingPublisher(runtime.publisher);
    const report = await reconcile(publisher, { batchSize: 3 });
    const lost = [
      [personas[0].leadId, jsonNew],
      [personas[1].leadId, markdownNew],
      ['lost-first-version', brandNew],
      ['lost-big', big],
    ] as const;
    expect(publisher.events.map((e) => e.id).sort()).toEqual(lost.map(([l, v]) => savedEventId(l, v)).sort());
    expect(publisher.calls.every((n) => n <= 3)).toBe(true); // bounded batches
    expect(report).toMatchObject({
      checked: 10 + 4, // the ten projected versions and the four lost ones, not the old one or the in-flight one
      announced: 10,
      unannounced: 4,
      published: 4,
      metadata: { pointer: 0, 'front-matter': 2, 'pointer-other-version': 1, defaults: 1 },
      corrupt: { count: 0 },
      invalid: { count: 0 },
    });
    expect(report.unrecoveredMetadata.sort()).toEqual([personas[0].leadId, 'lost-first-version'].sort());
    const byLead = new Map(
      publisher.events.map((e) => [e.subject, e as TwinEventOf<'twin.saved.v1'>] as const),
    );
    expect(byLead.get('lost-big')?.data.markdown).toBeUndefined(); // a claim check, as the save would send
    expect(byLead.get(personas[1].leadId)?.data.metadata).toEqual(
      parseMetadata({ ...frontMatter, tags: ['retiree'] }),
    );
    expect(byLead.get(personas[1].leadId)?.data.markdown).toBe(
      `---\n${stringify(frontMatter)}---\n# Pat\nlostmdword\n`,
    );
    expect(await backlog()).toEqual(CONSUMER_NAMES.map(() => 4));

    await drain();
    for (const [leadId, version] of lost) {
      expect((await runtime.catalog.get(leadId))?.version).toBe(version);
      expect(await runtime.search.version(leadId)).toBe(version);
      expect((await runtime.activity.get(leadId))?.version).toBe(version);
      expect((await readPointer(runtime.content, leadId))?.pointer.version).toBe(version);
    }
    expect((await runtime.catalog.get(personas[1].leadId))?.metadata).toMatchObject({
      classification: 'hot',
      location: 'Hobart',
    });
    for (const word of ['lostjsonword', 'lostmdword', 'lostnewword', 'lostbigword']) {
      expect((await runtime.useCases.search.execute({ q: word })).total, word).toBe(1);
    }
    expect((await runtime.useCases.get.execute('lost-first-version')).markdown.toString()).toBe(
      '# New\nlostnewword\n',
    );

    // The catalog caught up: nothing new to publish.
    const again = new RecordingPublisher(runtime.publisher);
    expect(await reconcile(again)).toMatchObject({ unannounced: 0, published: 0, announced: 14 });
    expect(again.events).toEqual([]);

    // Later the in-flight save turns out to have died too: once past the grace period it is published.
    t += 10 * 60_000;
    const late = new RecordingPublisher(runtime.publisher);
    expect(await reconcile(late)).toMatchObject({ unannounced: 1, published: 1 });
    expect(late.events.map((e) => e.id)).toEqual([savedEventId(personas[2].leadId, inFlight)]);
    await drain();
    expect((await runtime.catalog.get(personas[2].leadId))?.version).toBe(inFlight);
    expect((await reconcile(new RecordingPublisher(runtime.publisher))).published).toBe(0);
    // the version outside the window was never looked at
    expect(outside).toMatch(/^[0-9A-Z]{26}$/);
    expect(await runtime.catalog.get('lost-long-ago')).toBeNull();
    expect(await reconcile(new RecordingPublisher(runtime.publisher))).toMatchObject({
      checked: 15,
      announced: 15,
    });
  });

  it('`twins reconcile` publishes, prints the counts, and a second run publishes nothing', async () => {
    const p = generatePersona(77);
    await runtime.useCases.save.execute({
      leadId: p.leadId,
      document: documentFromJson({ markdown: p.markdown, metadata: p.metadata }),
    });
    await drain();
    t += 24 * HOUR_MS; // the next day: a day-blob of its own
    const lost = await acceptThenCrash(
      p.leadId,
      markdownDoc({ classification: 'cold' }, '# Lost\nlostcliword\n'),
    );
    t += HOUR_MS;

    const dryOut = new Sink();
    const dry = await reconcileCommand({ config, clock, out: dryOut, dryRun: true });
    expect(dry.code).toBe(0);
    expect(dryOut.text).toContain('1 never announced, 0 published');
    expect(dryOut.text).toContain(`would publish ${savedEventId(p.leadId, lost)}`);
    expect(await backlog()).toEqual(CONSUMER_NAMES.map(() => 0));

    const out = new Sink();
    const { code, report } = await reconcileCommand({ config, clock, out });
    expect(code).toBe(0);
    expect(report).toMatchObject({ checked: 2, announced: 1, unannounced: 1, published: 1 });
    expect(out.text).toContain('checked 2 day-blobs');
    expect(out.text).toContain(`published ${savedEventId(p.leadId, lost)}`);
    expect(await backlog()).toEqual(CONSUMER_NAMES.map(() => 1));
    await drain();
    expect((await runtime.catalog.get(p.leadId))?.version).toBe(lost);
    expect((await runtime.useCases.search.execute({ q: 'lostcliword', classification: 'cold' })).total).toBe(
      1,
    );

    const second = await reconcileCommand({ config, clock, out: new Sink(), json: true });
    expect(second.report).toMatchObject({ unannounced: 0, published: 0, announced: 2 });
  });
});

describe('twins reconcile on the azure profile: Blob Storage, Cosmos DB, Service Bus', () => {
  let backends: AzureTestBackends | undefined;
  let tmp: TempDir;

  beforeAll(async () => {
    backends = await startAzureTestBackends();
    tmp = await makeTempDir('reconcile-azure');
  }, 240_000);

  afterAll(async () => {
    await backends?.stop();
    await tmp?.cleanup();
  });

  it('publishes the lost version through Service Bus once; the consumers project it; a second run publishes nothing', async () => {
    let t = Date.UTC(2026, 2, 10, 8);
    const clock = { now: () => new Date(t) };
    const config = loadConfig({ ...backends!.env, TWINS_DATA_DIR: tmp.dir });
    expect(config.adapters).toMatchObject({
      contentStore: 'azure-blob',
      catalog: 'cosmos',
      eventBus: 'service-bus',
    });
    const runtime = await createRuntime(config, { service: 'test', logger: silent, clock });
    try {
      const drain = async () => {
        const running = CONSUMER_NAMES.map((name) =>
          runtime.subscriber.subscribe(name, createHandler(runtime, name), {
            concurrency: 4,
            types: CONSUMERS[name],
          }),
        );
        try {
          await waitFor(
            'consumers to drain',
            async () => (await runtime.busAdmin.stats()).every((s) => s.active === 0),
            60_000,
            50,
          );
        } finally {
          await Promise.all(running.map((s) => s.close(10_000)));
        }
      };
      const personas = [generatePersona(901), generatePersona(902)];
      for (const p of personas) {
        await runtime.useCases.save.execute({
          leadId: p.leadId,
          document: documentFromJson({ markdown: p.markdown, metadata: p.metadata }),
        });
      }
      await drain();
      t += 24 * HOUR_MS;
      const crashing = new SaveTwinUseCase(
        runtime.content,
        crashingPublisher,
        new VersionGenerator(() => clock.now()),
        clock,
      );
      await expect(
        crashing.execute({
          leadId: personas[0].leadId,
          document: markdownDoc({ classification: 'hot', location: 'Darwin' }, '# Lost\nlostazureword\n'),
        }),
      ).rejects.toThrow('process died before publishing');
      t += HOUR_MS;

      const { report } = await reconcileCommand({ config, clock, out: new Sink() });
      expect(report).toMatchObject({ checked: 3, announced: 2, unannounced: 1, published: 1 });
      const version = report.events[0].version;
      expect(report.events[0].eventId).toBe(savedEventId(personas[0].leadId, version as Version));
      await drain();
      expect((await runtime.catalog.get(personas[0].leadId))?.version).toBe(version);
      expect((await runtime.catalog.get(personas[0].leadId))?.metadata.location).toBe('Darwin');
      expect((await runtime.useCases.search.execute({ q: 'lostazureword' })).total).toBe(1);

      const second = await reconcileCommand({ config, clock, out: new Sink() });
      expect(second.report).toMatchObject({ checked: 3, announced: 3, unannounced: 0, published: 0 });
    } finally {
      await runtime.close();
    }
  }, 300_000);
});
