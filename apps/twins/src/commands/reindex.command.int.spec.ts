import { createHash } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { Writable } from 'node:stream';
import pino from 'pino';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  BUNDLE_PREFIX,
  CONSUMER_NAMES,
  CONSUMERS,
  decodeBundle,
  MANIFEST_PREFIX,
  manifestPath,
  readManifest,
  readPointer,
  RebuildProjectionsUseCase,
  TieredContentStore,
  TieringActivity,
  TwinColdError,
} from '@twinstore/application';
import {
  contentPath,
  documentFromJson,
  documentFromMarkdown,
  METADATA_PREFIX as POINTER_PREFIX,
  TwinDocument,
} from '@twinstore/domain';
import { generatePersona, Persona } from '@twinstore/personas';
import {
  createHandler,
  createRuntime,
  embeddedLayout,
  loadConfig,
  TwinsConfig,
  TwinsRuntime,
} from '@twinstore/platform';
import { AzureTestBackends, makeTempDir, startAzureTestBackends, TempDir, waitFor } from '@twinstore/testing';
import { reconcileCommand } from './reconcile.command';
import { reindexCommand } from './reindex.command';

const DAY_MS = 86_400_000;
const TWINS = 50;
const JSON_FORM = 30; // leads 0..29 posted as JSON, 30..49 as text/markdown with front matter
const silent = pino({ level: 'silent' });
/** Fixed thresholds, small bundles (the 39 cold twins make three), rehydration at once on the embedded profile. */
const COLD_ENV = {
  TWINS_TIER_POLICY: 'fixed', // warm after 30 days, cold after 365
  TWINS_TIER_BUNDLE_MAX_TWINS: '16',
  TWINS_REHYDRATION_DELAY_MS: '0',
};
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function list(rt: TwinsRuntime, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const b of rt.content.list(prefix)) out.push(b.path);
  return out;
}

/** The entries of a bundle, read through a rehydrated copy (an archived blob cannot be read on Azure). */
async function bundleEntries(rt: TwinsRuntime, bundle: string) {
  const copy = `test-copies/${bundle.replace(/\//g, '_')}`;
  expect(await (rt.content as TieredContentStore).startRehydration(bundle, copy, 'high')).toBe('completed');
  const blob = await rt.content.get(copy);
  await rt.content.delete(copy);
  return decodeBundle(blob!.body);
}

/** Last access times are not in the blob store (a rebuild loses them): compared apart. */
function withoutAccess<T extends { activity: ({ lastAccessAt: string | null } | null)[] }>(s: T): T {
  return { ...s, activity: s.activity.map((a) => (a ? { ...a, lastAccessAt: null } : a)) };
}

/**
 * After the rebuild, on either profile: a cold twin still answers with a rehydration job that brings back
 * its exact bytes, and DELETE of a cold twin erases it from its bundle and from the bundle's manifest.
 */
async function coldTwinsStillWork(rt: TwinsRuntime, leads: Lead[]): Promise<void> {
  const coldLead = leads[12].persona.leadId;
  const record = (await rt.catalog.get(coldLead))!;
  // The cache-warmer's entry of day 1 (Redis, azure profile) expires in real time, not simulated time.
  await rt.cache.invalidate(coldLead, record.version);
  await expect(rt.useCases.get.execute(coldLead)).rejects.toBeInstanceOf(TwinColdError);
  const job = await rt.tiering!.rehydration.start(coldLead);
  expect((await rt.tiering!.rehydration.status(job.jobId))?.status).toBe('completed');
  const twin = await rt.useCases.get.execute(coldLead);
  expect(twin.version).toBe(record.version);
  expect(sha256(twin.markdown)).toBe(record.contentHash);

  const victim = leads[20].persona.leadId;
  const placed = await (rt.activity as TieringActivity).locate(victim);
  expect(placed).toMatchObject({ tier: 'cold', location: { bundle: expect.any(String) } });
  await rt.useCases.delete.execute(victim, { actor: 'test' });
  await drain(rt);
  expect(await rt.content.head(placed!.location!.bundle)).toBeNull(); // rewritten without it
  for (const bundle of await list(rt, BUNDLE_PREFIX)) {
    expect((await bundleEntries(rt, bundle)).map((e) => e.leadId)).not.toContain(victim);
    const manifest = (await readManifest(rt.content, bundle))!.manifest;
    expect(manifest.entries.map((e) => e.leadId)).not.toContain(victim);
  }
  expect(await (rt.activity as TieringActivity).locate(victim)).toBeNull();
}

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void) {
    this.text += chunk.toString('utf8');
    cb();
  }
}

interface Lead {
  persona: Persona;
  json: boolean;
  deleted?: boolean;
}

/** The search requests compared before and after the rebuild: filters, facets, paging, free text. */
function queries(leads: Lead[]): Record<string, unknown>[] {
  const p0 = leads[0].persona.metadata;
  const p7 = leads[37].persona.metadata;
  return [
    { facets: 'classification,location,tags', top: 100 },
    { q: 'household', top: 100, facets: 'classification' },
    { q: 'followup3zz', facets: 'tags' },
    { q: 'followup27zz' },
    { q: 'followup32zz', facets: 'classification,tags' },
    { q: 'original3zz' }, // superseded text: found before and after in no twin
    { classification: 'hot', facets: 'classification,location,tags', top: 50 },
    { classification: 'warm,cold', minIncome: '60000', maxAge: '60', top: 7, skip: 3, facets: 'location' },
    { location: p0.location, facets: 'tags' },
    { tags: p7.tags[0], facets: 'classification,location' },
    { q: 'summary occupation', minAge: '30', maxIncome: '200000', top: 10, skip: 5, facets: 'tags' },
    { q: 'bigdocword' },
    // cold twins (after coldPhase): a second version's text, a first version's text, facets over them
    { q: 'followup12zz', facets: 'classification,tags' },
    { q: 'original22zz', facets: 'classification,location' },
    { q: 'followup40zz' },
  ];
}

/** Lets every consumer work off the topic, as the running services would. */
async function drain(rt: TwinsRuntime): Promise<void> {
  const running = CONSUMER_NAMES.map((name) =>
    rt.subscriber.subscribe(name, createHandler(rt, name), { concurrency: 8, types: CONSUMERS[name] }),
  );
  try {
    await waitFor(
      'consumers to drain',
      async () => (await rt.busAdmin.stats()).every((s) => s.active === 0),
      60_000,
      20,
    );
  } finally {
    await Promise.all(running.map((s) => s.close(5_000)));
  }
  expect((await rt.busAdmin.stats()).map((s) => s.deadLettered)).toEqual(CONSUMER_NAMES.map(() => 0));
}

function makeLeads(): Lead[] {
  const leads = Array.from({ length: TWINS }, (_, i) => ({
    persona:
      i === 44
        ? generatePersona(9000 + i, { minBytes: 110 * 1024, maxBytes: 120 * 1024 })
        : generatePersona(9000 + i),
    json: i < JSON_FORM,
  }));
  // one big twin travels as a claim check; give it a word to find
  leads[44].persona = { ...leads[44].persona, markdown: `${leads[44].persona.markdown}\nbigdocword\n` };
  return leads;
}

/** Version `version` of lead `i`: JSON or text/markdown with front matter; later versions change metadata. */
function doc(leads: Lead[], i: number, version: number): TwinDocument {
  const lead = leads[i];
  const p = lead.persona;
  const classes = ['hot', 'warm', 'cold'] as const;
  const metadata = {
    ...p.metadata,
    ...(version > 1
      ? {
          classification: classes[(classes.indexOf(p.metadata.classification) + version) % 3],
          income: p.metadata.income + 1000 * version,
          tags: [...p.metadata.tags, `v${version}`],
        }
      : {}),
  };
  const markdown = `${p.markdown}\n\n${version === 1 ? `original${i}zz` : `followup${i}zz v${version}`}\n`;
  return lead.json
    ? documentFromJson({ markdown, metadata })
    : documentFromMarkdown(Buffer.from(`---\n${stringify(metadata)}---\n${markdown}`, 'utf8'));
}

/**
 * The history the projections are built from, on simulated days: day 0 every twin; day 1 a second version of
 * 0..19 and, an hour later, a third of 0..4 (the day-blob keeps only the later one); day 40 a second version
 * of 25..34; day 41 lead 45 is erased; day 46 the tiering sweep (twins untouched since day 1 are warm).
 */
async function populate(rt: TwinsRuntime, leads: Lead[], advance: (ms: number) => void): Promise<void> {
  const save = (i: number, version: number) =>
    rt.useCases.save.execute({ leadId: leads[i].persona.leadId, document: doc(leads, i, version) });
  for (let i = 0; i < TWINS; i++) await save(i, 1);
  advance(DAY_MS);
  for (let i = 0; i < 20; i++) await save(i, 2);
  advance(3_600_000);
  for (let i = 0; i < 5; i++) await save(i, 3);
  advance(39 * DAY_MS);
  for (let i = 25; i < 35; i++) await save(i, 2);
  await drain(rt);
  advance(DAY_MS);
  await rt.useCases.delete.execute(leads[45].persona.leadId);
  leads[45].deleted = true;
  await drain(rt);
  advance(5 * DAY_MS);
  await rt.tiering!.lifecycle.sweep();
}

/**
 * After populate: day 400, the lifecycle packs every twin untouched for a year into Archive bundles (0..24
 * and 35..49 but the erased 45; 25..34 stay warm), then day 401: lead 3 is read (rehydration job: hot again,
 * its bundle entry dead) and lead 40 is written again (hot, its bundle entry dead).
 */
async function coldPhase(rt: TwinsRuntime, leads: Lead[], advance: (ms: number) => void): Promise<void> {
  advance(354 * DAY_MS);
  const swept = await rt.tiering!.lifecycle.sweep();
  expect(swept?.moved).toMatchObject({ 'warm->cold': TWINS - 1 - 10 });
  advance(DAY_MS);
  await expect(rt.useCases.get.execute(leads[3].persona.leadId)).rejects.toBeInstanceOf(TwinColdError);
  const job = await rt.tiering!.rehydration.start(leads[3].persona.leadId);
  expect((await rt.tiering!.rehydration.status(job.jobId))?.status).toBe('completed');
  await rt.useCases.save.execute({ leadId: leads[40].persona.leadId, document: doc(leads, 40, 2) });
  await rt.useCases.access.flush();
  await drain(rt);
}

/** Everything the projections answer: query results, catalog records, pointers, tiering records. */
async function snapshot(rt: TwinsRuntime, leads: Lead[], options: { highlights: boolean; scores: boolean }) {
  const search = [];
  for (const q of queries(leads)) {
    const result = await rt.useCases.search.execute(q);
    // Embedded: highlights are cut from the hit's cached or stored text, so a cold twin (archived blob) has
    // none until it is rehydrated; and the contentless FTS5 index keeps a deleted row's terms in its bm25
    // statistics until its segments merge, so a long-lived index scores a little differently from a fresh
    // one. Which twins match and their order are compared there; highlights and scores on Azure too.
    search.push({
      ...result,
      hits: result.hits.map(({ highlights, score, ...hit }) => ({
        ...hit,
        ...(options.highlights ? { highlights } : {}),
        ...(options.scores ? { score } : {}),
      })),
    });
  }
  const activity = [];
  const pointers = [];
  const placements = [];
  for (const { persona } of leads) {
    activity.push(await rt.activity.get(persona.leadId));
    pointers.push((await readPointer(rt.content, persona.leadId))?.pointer ?? null);
    placements.push(await (rt.activity as TieringActivity).locate(persona.leadId));
  }
  return {
    search,
    catalog: await rt.catalog.list({ limit: 1000 }),
    activity,
    placements,
    pointers,
    counts: {
      catalog: await rt.catalog.count(),
      search: await rt.search.count(),
      tiers: await rt.activity.countByTier(),
    },
  };
}

describe('twins reindex: the projections are rebuilt from the blob store alone (embedded)', () => {
  let tmp: TempDir;
  let config: TwinsConfig;
  let t: number;
  const clock = { now: () => new Date(t) };
  let runtime: TwinsRuntime | undefined;
  let leads: Lead[];

  const open = async () => {
    runtime = await createRuntime(config, { service: 'test', logger: silent, clock });
    return runtime;
  };
  const close = async () => {
    await runtime?.close();
    runtime = undefined;
  };
  const snap = (rt: TwinsRuntime) => snapshot(rt, leads, { highlights: false, scores: false });

  const removeProjectionFiles = async () => {
    const layout = embeddedLayout(config.dataDir);
    for (const file of [layout.catalog, layout.search, layout.activity]) {
      for (const suffix of ['', '-wal', '-shm']) await rm(`${file}${suffix}`, { force: true });
    }
  };

  beforeEach(async () => {
    tmp = await makeTempDir('reindex');
    config = loadConfig({ TWINS_DATA_DIR: tmp.dir, ...COLD_ENV });
    t = Date.UTC(2026, 0, 5, 9);
    leads = makeLeads();
    await populate(await open(), leads, (ms) => (t += ms));
  });

  afterEach(async () => {
    await close();
    await tmp.cleanup();
  });

  it('deletes catalog.db, search.db and activity.db, runs `twins reindex`, and every query answers the same', async () => {
    const before = await snap(runtime!);
    expect(before.counts.catalog).toBe(TWINS - 1);
    expect(before.counts.tiers.warm).toBeGreaterThan(0);
    expect(before.search[2].total).toBe(1);
    expect(before.search[5].total).toBe(0);
    expect(before.search[11].total).toBe(1);
    await close();

    await removeProjectionFiles();
    const emptied = await open();
    expect(await emptied.catalog.count()).toBe(0);
    expect(await emptied.search.count()).toBe(0);
    expect((await emptied.useCases.search.execute({ q: 'household' })).total).toBe(0);
    await close();

    const out = new Sink();
    const { code, report } = await reindexCommand({ config, clock, out });
    expect(code).toBe(0);
    expect(report).toMatchObject({
      leads: TWINS - 1,
      rebuilt: TWINS - 1,
      blobs: TWINS - 1 + 20 + 10, // day 0, day 1 (one blob per day even with two versions), day 40
      historyEntries: 0, // the pointers survived and list every day-blob
      metadata: {
        pointer: TWINS - 1,
        manifest: 0,
        'front-matter': 0,
        'pointer-other-version': 0,
        defaults: 0,
      },
      unrecoveredMetadata: [],
      failures: { count: 0 },
      corrupt: { count: 0 },
      invalid: { count: 0 },
    });
    expect(report.outcomes.writer).toEqual({ done: TWINS - 1, skip: 0 });
    expect(report.outcomes.indexer).toEqual({ done: TWINS - 1, skip: 0 });
    expect(report.outcomes.tiering).toEqual({ done: TWINS - 1, skip: 0 });
    expect(report.placements).toEqual(before.counts.tiers);
    expect(report.bundles).toMatchObject({ listed: 0, cold: 0 });
    expect(out.text).toContain(`reindex: ${TWINS - 1} twins from ${TWINS - 1 + 30} day-blobs`);

    const after = await snap(await open());
    expect(after).toEqual(before);
    // the erased lead stays erased
    expect(await runtime!.catalog.get(leads[45].persona.leadId)).toBeNull();
  });

  it('changes nothing when run on projections that are current (version guards), and a dry run writes nothing', async () => {
    const before = await snap(runtime!);
    const rebuild = () =>
      new RebuildProjectionsUseCase({
        content: runtime!.content,
        handlers: {
          writer: createHandler(runtime!, 'writer'),
          indexer: createHandler(runtime!, 'indexer'),
          tiering: createHandler(runtime!, 'tiering'),
        },
        ledger: runtime!.activity as TieringActivity,
        clock,
      });
    const report = await rebuild().execute();
    expect(report.outcomes.writer).toEqual({ done: 0, skip: TWINS - 1 });
    expect(report.outcomes.indexer).toEqual({ done: 0, skip: TWINS - 1 });
    expect(report.outcomes.tiering).toEqual({ done: 0, skip: TWINS - 1 });
    expect(report.placements).toEqual(before.counts.tiers); // already current: nothing written
    expect(report.retired).toBe(0);
    expect(await snap(runtime!)).toEqual(before);

    await close();
    await removeProjectionFiles();
    const rt = await open();
    const dry = await new RebuildProjectionsUseCase({
      content: rt.content,
      handlers: { writer: createHandler(rt, 'writer'), indexer: createHandler(rt, 'indexer') },
      clock,
    }).execute({ dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, leads: TWINS - 1, rebuilt: TWINS - 1 });
    expect(dry.outcomes.writer).toEqual({ done: 0, skip: 0 });
    expect(await rt.catalog.count()).toBe(0);
    expect(await rt.search.count()).toBe(0);
  });

  it('without the pointers too: metadata from front matter, JSON-form twins counted, history rebuilt', async () => {
    const before = await snap(runtime!);
    for await (const blob of runtime!.content.list(POINTER_PREFIX)) await runtime!.content.delete(blob.path);
    await close();
    await removeProjectionFiles();

    const out = new Sink();
    const { code, report } = await reindexCommand({ config, clock, out, concurrency: 4 });
    expect(code).toBe(0);
    const jsonAlive = leads.filter((l) => l.json && !l.deleted).length;
    const markdownAlive = leads.filter((l) => !l.json && !l.deleted).length;
    expect(report.metadata).toEqual({
      pointer: 0,
      manifest: 0,
      'front-matter': markdownAlive,
      'pointer-other-version': 0,
      defaults: jsonAlive,
    });
    expect(report.unrecoveredMetadata).toHaveLength(20); // a sample; the count is in metadata.defaults
    expect(report.historyEntries).toBe(20 + 10); // the older day-blobs of the leads saved twice
    expect(out.text).toContain(
      `${jsonAlive} twin(s) had neither a pointer at their version nor front matter`,
    );

    const after = await snap(await open());
    // pointers come back with the same history; savedAt is the version's own time (exact here: simulated time)
    expect(after.pointers.map((p) => p?.history ?? null)).toEqual(
      before.pointers.map((p) => p?.history ?? null),
    );
    for (const [i, lead] of leads.entries()) {
      const was = before.catalog.find((r) => r.leadId === lead.persona.leadId);
      const is = after.catalog.find((r) => r.leadId === lead.persona.leadId);
      if (lead.deleted) expect(is).toBeUndefined();
      else if (lead.json) {
        // everything but the metadata, which only travelled in the event
        expect({ ...is, metadata: undefined }).toEqual({ ...was, metadata: undefined });
        expect(is?.metadata).toEqual({ classification: 'warm', tags: [], extra: {} });
      } else expect(is, `lead ${i}`).toEqual(was);
    }
    // free text does not depend on metadata: the same twins, in the same order
    expect(after.search[1].hits.map((h) => [h.leadId, h.version])).toEqual(
      before.search[1].hits.map((h) => [h.leadId, h.version]),
    );
    // a text/markdown twin's hit, metadata included, is exactly what it was
    expect(after.search[4]).toEqual(before.search[4]);
    expect(after.search[4].total).toBe(1);
  });

  it('cold twins come back from the bundle manifests alone: same queries, same placements; reconcile republishes none', async () => {
    await coldPhase(runtime!, leads, (ms) => (t += ms));
    const before = await snap(runtime!);
    expect(before.counts.tiers).toEqual({ hot: 2, warm: 10, cold: TWINS - 1 - 12 });
    expect(before.placements[3]).toMatchObject({ tier: 'hot', retired: [expect.any(String)] });
    expect(before.placements[40]).toMatchObject({ tier: 'hot', retired: [expect.any(String)] });
    expect(before.placements[12]).toMatchObject({ tier: 'cold', location: { bundle: expect.any(String) } });
    for (const q of [12, 13, 14, 11]) expect(before.search[q].total, `query ${q}`).toBe(1);
    const bundles = await list(runtime!, BUNDLE_PREFIX);
    expect(bundles).toHaveLength(3);
    expect(await list(runtime!, MANIFEST_PREFIX)).toEqual(bundles.map(manifestPath).sort());
    // one manifest lost (or a bundle from before manifests): the rebuild reads that bundle through a copy
    const lost = before.placements[44]!.location!.bundle;
    await runtime!.content.delete(manifestPath(lost));
    await close();
    await removeProjectionFiles();

    // reconcile on the lost projections: cold twins have no day-blob, nothing is "unannounced"
    const reconciled = await reconcileCommand({
      config,
      clock,
      out: new Sink(),
      sinceHours: 24 * 800,
      graceSeconds: 0,
    });
    expect(reconciled.code).toBe(0);
    expect(reconciled.report).toMatchObject({ unannounced: 0, published: 0, announced: TWINS - 1 - 37 + 30 });

    const out = new Sink();
    const { code, report } = await reindexCommand({ config, clock, out });
    expect(code).toBe(0);
    expect(report).toMatchObject({
      leads: TWINS - 1,
      rebuilt: TWINS - 1,
      bundles: {
        listed: 3,
        entries: TWINS - 1 - 10,
        cold: TWINS - 1 - 12,
        backfilled: 1,
        unread: { count: 0 },
      },
      placements: before.counts.tiers,
      retired: 2,
      accessAssumed: 1, // lead 3: in the Hot tier a year after its last write, so it was read
      failures: { count: 0 },
      corrupt: { count: 0 },
      unreadable: { count: 0 },
    });
    expect(report.metadata.pointer).toBe(TWINS - 1);
    expect(out.text).toContain('cold twins from bundle manifests: 37');
    expect(await list(runtime ?? (await open()), MANIFEST_PREFIX)).toEqual(bundles.map(manifestPath).sort());
    await close();

    const after = await snap(await open());
    expect(before.activity[3]?.lastAccessAt).not.toBeNull(); // the read that rehydrated it
    expect(withoutAccess(after)).toEqual(withoutAccess(before));

    // a second reindex on current projections writes nothing
    await close();
    const again = await reindexCommand({ config, clock, out: new Sink() });
    expect(again.report.outcomes.indexer).toEqual({ done: 0, skip: TWINS - 1 });
    expect(again.report).toMatchObject({ retired: 0, bundles: { backfilled: 0 } });
    await coldTwinsStillWork(await open(), leads);
  });

  it('a bundle without manifest whose copy is pending (Azure: hours) is reported, held against compaction, and read by a later run', async () => {
    await coldPhase(runtime!, leads, (ms) => (t += ms));
    const before = await snap(runtime!);
    const lost = before.placements[44]!.location!.bundle;
    const members = before.placements.filter((p) => p?.location?.bundle === lost).length;
    await runtime!.content.delete(manifestPath(lost));
    await close();
    await removeProjectionFiles();

    const rt = await open();
    const content = rt.content as TieredContentStore;
    const start = content.startRehydration.bind(content);
    let held = true;
    // As on Azure: the copy exists at once but stays pending until the rehydration is done.
    content.startRehydration = async (source, target, priority) => {
      const state = await start(source, target, priority);
      return held ? 'pending' : state;
    };
    const rebuild = () =>
      new RebuildProjectionsUseCase({
        content: rt.content,
        handlers: {
          writer: createHandler(rt, 'writer'),
          indexer: createHandler(rt, 'indexer'),
          tiering: createHandler(rt, 'tiering'),
        },
        ledger: rt.activity as TieringActivity,
        thresholds: config.tiering,
        clock,
      }).execute();
    const first = await rebuild();
    expect(first.bundles.unread).toEqual({
      count: 1,
      sample: [{ path: lost, reason: expect.stringContaining('pending') }],
    });
    expect(first.leads).toBe(TWINS - 1 - members);
    // the ledger knows none of that bundle's twins, yet the sweep's compaction keeps it; and the rehydrated
    // lead 3 (its access recorded by the rebuild) is not sent back to Archive
    const sweep = await rt.tiering!.lifecycle.sweep();
    expect(sweep).toMatchObject({ emptied: 0 });
    expect(sweep?.moved).toEqual({});
    expect(await rt.content.head(lost)).not.toBeNull();

    held = false; // the rehydration finished
    const second = await rebuild();
    expect(second.bundles).toMatchObject({ backfilled: 1, unread: { count: 0 } });
    expect(await rt.content.head(manifestPath(lost))).not.toBeNull();
    expect(await list(rt, `tiering/staging/`)).toEqual([]);
    const after = await snap(rt);
    expect(withoutAccess(after)).toEqual(withoutAccess(before));
  });

  it('passes over a day-blob whose bytes do not match its sha256 and rebuilds the older version', async () => {
    const lead = leads[2].persona.leadId;
    const record = (await runtime!.catalog.get(lead))!;
    const older = (await readPointer(runtime!.content, lead))!.pointer.history[0];
    // bit rot: the newest day-blob's bytes change, its metadata (sha256) does not
    const blob = (await runtime!.content.get(record.blobPath))!;
    await runtime!.content.put(
      record.blobPath,
      Buffer.from(blob.body.toString('utf8').replace('Summary', 'Sxmmary')),
      {
        contentType: blob.properties.contentType,
        metadata: blob.properties.metadata,
      },
    );
    await close();
    await removeProjectionFiles();

    const out = new Sink();
    const { code, report } = await reindexCommand({ config, clock, out });
    expect(code).toBe(1);
    expect(report.corrupt).toEqual({
      count: 1,
      sample: [{ path: record.blobPath, reason: 'content does not match its sha256' }],
    });
    expect(report.rebuilt).toBe(TWINS - 1);
    expect(out.text).toContain(`${record.blobPath}: content does not match its sha256`);
    const rt = await open();
    expect((await rt.catalog.get(lead))?.version).toBe(older.version);
    expect(await rt.search.version(lead)).toBe(older.version);
    expect(contentPath(lead, older.version)).toBe(older.blobPath);
  });
});

describe('twins reindex on the azure profile: Blob Storage, Cosmos DB, AI Search, Table Storage', () => {
  let backends: AzureTestBackends | undefined;
  let tmp: TempDir;

  beforeAll(async () => {
    backends = await startAzureTestBackends();
    tmp = await makeTempDir('reindex-azure');
  }, 240_000);

  afterAll(async () => {
    await backends?.stop();
    await tmp?.cleanup();
  });

  it('rebuilds into empty projections from the blob container, and every query answers the same', async () => {
    let t = Date.UTC(2026, 0, 5, 9);
    const clock = { now: () => new Date(t) };
    // The bus is not what is rebuilt: the embedded one keeps the test quick. The "lost" projections are a
    // fresh Cosmos database, search index and table, next to the originals, fed by the same blob container.
    const env = { ...backends!.env, TWINS_DATA_DIR: tmp.dir, TWINS_EVENT_BUS: 'sqlite', ...COLD_ENV };
    const original = loadConfig(env);
    const rebuilt = loadConfig({
      ...env,
      TWINS_AZURE_COSMOS_DATABASE: 'twinstorerebuilt',
      TWINS_AZURE_SEARCH_INDEX: 'digital-twins-rebuilt',
      TWINS_AZURE_TABLE_NAME: 'twinactivityrebuilt',
    });
    const leads = makeLeads();
    let rt = await createRuntime(original, { service: 'test', logger: silent, clock });
    let before: Awaited<ReturnType<typeof snapshot>>;
    try {
      await populate(rt, leads, (ms) => (t += ms));
      await coldPhase(rt, leads, (ms) => (t += ms));
      before = await snapshot(rt, leads, { highlights: true, scores: true });
    } finally {
      await rt.close();
    }
    expect(before.counts.catalog).toBe(TWINS - 1);
    expect(before.search[2].total).toBe(1);
    expect(before.counts.tiers).toEqual({ hot: 2, warm: 10, cold: TWINS - 1 - 12 });
    for (const q of [12, 13, 14, 11]) expect(before.search[q].total, `query ${q}`).toBe(1);

    rt = await createRuntime(rebuilt, { service: 'test', logger: silent, clock });
    try {
      expect(await rt.catalog.count()).toBe(0);
      expect(await rt.search.count()).toBe(0);
    } finally {
      await rt.close();
    }

    const { code, report } = await reindexCommand({ config: rebuilt, clock, out: new Sink() });
    expect(code).toBe(0);
    expect(report).toMatchObject({
      leads: TWINS - 1,
      rebuilt: TWINS - 1,
      failures: { count: 0 },
      bundles: { listed: 3, cold: TWINS - 1 - 12, backfilled: 0, unread: { count: 0 } },
      placements: before.counts.tiers,
      retired: 2,
    });
    expect(report.metadata.pointer).toBe(TWINS - 1);

    rt = await createRuntime(rebuilt, { service: 'test', logger: silent, clock });
    try {
      expect(withoutAccess(await snapshot(rt, leads, { highlights: true, scores: true }))).toEqual(
        withoutAccess(before),
      );
      await coldTwinsStillWork(rt, leads);
    } finally {
      await rt.close();
    }
  }, 300_000);
});
