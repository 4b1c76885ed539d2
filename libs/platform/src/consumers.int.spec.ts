import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CONSUMER_NAMES,
  DeliveryContext,
  EventPublisher,
  readPointer,
  SaveTwinUseCase,
} from '@twinstore/application';
import { createEvent, TwinEvent, TwinEventOf } from '@twinstore/contracts';
import { documentFromJson, metadataPath, VersionGenerator } from '@twinstore/domain';
import { loadConfig } from './config';
import { createHandler } from './consumers';
import { createRuntime } from './runtime';
import { TwinsRuntime } from './runtime.types';

/** Captures what the save use case would publish, so the test decides delivery order and duplicates. */
class CapturingPublisher implements EventPublisher {
  events: TwinEvent[] = [];
  async publish(events: TwinEvent[]) {
    this.events.push(...events);
  }
  async close() {}
}

describe('consumers converge on the newest version whatever the delivery order', () => {
  let dir: string;
  let runtime: TwinsRuntime;
  let t: number;
  let save: SaveTwinUseCase;
  let captured: CapturingPublisher;
  let versions: VersionGenerator;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'twins-converge-'));
    runtime = await createRuntime(loadConfig({ TWINS_DATA_DIR: dir }), {
      service: 'test',
      logger: pino({ level: 'silent' }),
    });
    t = Date.UTC(2026, 10, 20, 9);
    const clock = { now: () => new Date(t) };
    versions = new VersionGenerator(clock.now);
    captured = new CapturingPublisher();
    save = new SaveTwinUseCase(runtime.content, captured, versions, clock);
  });

  afterEach(async () => {
    await runtime.close();
    await rm(dir, { recursive: true, force: true });
  });

  const deliver = async (events: TwinEvent[]) => {
    for (const name of CONSUMER_NAMES) {
      const handler = createHandler(runtime, name);
      for (const [i, event] of events.entries()) {
        const ctx: DeliveryContext = { subscription: name, messageId: `${event.id}#${i}`, deliveryCount: 1 };
        const outcome = await handler(event, ctx);
        expect(['done', 'skip']).toContain(outcome.kind);
      }
    }
  };

  /** Three versions on three different days, each with a word only it contains. */
  const writeThreeVersions = async (leadId: string) => {
    const words = ['aardvark', 'bumblebee', 'capybara'];
    const classes = ['cold', 'warm', 'hot'] as const;
    for (const [i, word] of words.entries()) {
      await save.execute({
        leadId,
        document: documentFromJson({
          markdown: `# Lead ${leadId}\r\nLikes the ${word} 🙂 v${i + 1}\n`,
          metadata: { age: 30 + i, income: 50_000 * (i + 1), classification: classes[i], location: 'Sydney' },
        }),
      });
      t += 86_400_000;
    }
    return captured.events.filter((e) => e.subject === leadId) as TwinEventOf<'twin.saved.v1'>[];
  };

  it('applies duplicates and out-of-order deliveries to every store exactly as the newest version', async () => {
    const [v1, v2, v3] = await writeThreeVersions('lead-order');
    await deliver([v2, v1, v3, v2, v1, v3, v3]);

    const record = await runtime.catalog.get('lead-order');
    expect(record?.version).toBe(v3.data.version);
    expect(record?.metadata).toMatchObject({ age: 32, classification: 'hot' });
    expect(await runtime.search.version('lead-order')).toBe(v3.data.version);
    expect((await runtime.search.search({ q: 'capybara', top: 10, skip: 0, facets: [] })).total).toBe(1);
    expect((await runtime.search.search({ q: 'aardvark', top: 10, skip: 0, facets: [] })).total).toBe(0);
    const cached = await runtime.cache.get('lead-order');
    expect(cached?.version).toBe(v3.data.version);
    expect(cached?.markdown.toString('utf8')).toContain('capybara');
    expect((await runtime.activity.get('lead-order'))?.version).toBe(v3.data.version);
    const pointer = await readPointer(runtime.content, 'lead-order');
    expect(pointer?.pointer.version).toBe(v3.data.version);
    expect(pointer?.pointer.history.map((h) => h.version)).toEqual([v1, v2, v3].map((e) => e.data.version));
    expect(await runtime.catalog.count()).toBe(1);
    expect(await runtime.search.count()).toBe(1);
  });

  it('the same result in the opposite order', async () => {
    const [v1, v2, v3] = await writeThreeVersions('lead-reverse');
    await deliver([v3, v2, v1]);
    expect((await runtime.catalog.get('lead-reverse'))?.version).toBe(v3.data.version);
    expect(await runtime.search.version('lead-reverse')).toBe(v3.data.version);
    expect((await runtime.cache.get('lead-reverse'))?.version).toBe(v3.data.version);
    expect((await readPointer(runtime.content, 'lead-reverse'))?.pointer.history).toHaveLength(3);
  });

  it('a deletion wins over saves delivered after it, and erases their blobs', async () => {
    const [v1, v2] = await writeThreeVersions('lead-del');
    const deletion = createEvent('twin.deleted.v1', {
      leadId: 'lead-del',
      version: versions.next(),
      deletedAt: new Date(t).toISOString(),
    });
    await deliver([v1, deletion, v2, deletion, v1]);

    expect(await runtime.catalog.get('lead-del')).toBeNull();
    expect(await runtime.catalog.tombstone('lead-del')).toBe(deletion.data.version);
    expect(await runtime.search.version('lead-del')).toBeNull();
    expect((await runtime.search.search({ q: 'bumblebee', top: 10, skip: 0, facets: [] })).total).toBe(0);
    expect(await runtime.cache.get('lead-del')).toBeNull();
    expect(await runtime.activity.get('lead-del')).toBeNull();
    expect(await runtime.content.head(metadataPath('lead-del'))).toBeNull();
    for (const e of [v1, v2]) expect(await runtime.content.head(e.data.blobPath)).toBeNull();
  });

  it('a save newer than the deletion (the lead came back) is applied', async () => {
    const [v1] = await writeThreeVersions('lead-back');
    const deletion = createEvent('twin.deleted.v1', {
      leadId: 'lead-back',
      // deleted between the first and the second version
      version: new VersionGenerator(() => new Date(Date.UTC(2026, 10, 20, 12))).next(),
      deletedAt: new Date(t).toISOString(),
    });
    const v3 = captured.events
      .filter((e) => e.subject === 'lead-back')
      .at(-1) as TwinEventOf<'twin.saved.v1'>;
    await deliver([deletion, v3, v1]);
    expect((await runtime.catalog.get('lead-back'))?.version).toBe(v3.data.version);
    expect(await runtime.search.version('lead-back')).toBe(v3.data.version);
  });
});
