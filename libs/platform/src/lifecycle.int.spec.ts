import pino from 'pino';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BlobServiceClient } from '@azure/storage-blob';
import {
  BUNDLE_PREFIX,
  Clock,
  ConsumerName,
  CONSUMERS,
  decodeBundle,
  TieredContentStore,
  TieringActivity,
  TwinColdError,
} from '@twinstore/application';
import { TwinEvent } from '@twinstore/contracts';
import { contentPath, documentFromJson, Version } from '@twinstore/domain';
import { makeTempDir, startAzurite, TempDir, TestAzurite } from '@twinstore/testing';
import { loadConfig } from './config';
import { createHandler } from './consumers';
import { createRuntime } from './runtime';
import { TwinsRuntime } from './runtime.types';
import { startTieringSweeps } from './tiering-scheduler';

const DAY = 86_400_000;
const START = Date.UTC(2030, 0, 1, 9);
/** Bytes that must come back exactly: CRLF, trailing spaces, non-ASCII, no final newline. */
const MARKDOWN = '# Kim Ødegaard  \r\nWants cover for a boat.\n\n- tags: sailing, 🚤\r\n  ';

class ManualClock implements Clock {
  constructor(public ms: number) {}
  now = () => new Date(this.ms);
  advanceDays(days: number) {
    this.ms += days * DAY;
  }
}

type Profile = 'embedded' | 'azure';

interface World {
  runtime: TwinsRuntime;
  clock: ManualClock;
  events: TwinEvent[];
  /** The Azure SDK's own view of a blob's access tier (azure profile only). */
  azureTier?: (path: string) => Promise<string | undefined>;
  /** A second replica of the tiering service on the same stores. */
  replica(): Promise<TwinsRuntime>;
  close(): Promise<void>;
}

let azurite: TestAzurite | undefined;
beforeAll(async () => {
  azurite = await startAzurite();
}, 60_000);
afterAll(async () => {
  await azurite?.stop();
});

let containerSeq = 0;

async function openWorld(profile: Profile, extraEnv: Record<string, string> = {}): Promise<World> {
  const tmp: TempDir = await makeTempDir('twins-lifecycle-');
  const container = `life-${process.pid}-${++containerSeq}`;
  const table = `life${process.pid}x${containerSeq}`;
  const env: Record<string, string> = {
    TWINS_DATA_DIR: tmp.dir,
    TWINS_ACCESS_FLUSH_MS: '0',
    TWINS_LOG_LEVEL: 'silent',
    // the reference's 30/365 days: the lifecycle under test, whatever the default policy computes
    TWINS_TIER_POLICY: 'fixed',
    TWINS_REHYDRATION_DELAY_MS: profile === 'embedded' ? String(3_600_000) : '0',
    ...(profile === 'azure'
      ? {
          TWINS_CONTENT_STORE: 'azure-blob',
          TWINS_ACTIVITY_STORE: 'azure-table',
          TWINS_AZURE_STORAGE_CONNECTION_STRING: azurite!.connectionString,
          TWINS_AZURE_BLOB_CONTAINER: container,
          TWINS_AZURE_TABLE_NAME: table,
          TWINS_AZURE_ALLOW_INSECURE: 'true',
        }
      : {}),
    ...extraEnv,
  };
  const clock = new ManualClock(START);
  const open = () =>
    createRuntime(loadConfig(env), { service: 'test', clock, logger: pino({ level: 'silent' }) });
  const runtime = await open();
  const events: TwinEvent[] = [];
  // Every event any part of the runtime publishes (tier-changed and rehydrated have no subscription).
  const publish = runtime.publisher.publish.bind(runtime.publisher);
  runtime.publisher.publish = async (batch) => {
    events.push(...batch);
    return publish(batch);
  };
  const replicas: TwinsRuntime[] = [];
  const service =
    profile === 'azure'
      ? BlobServiceClient.fromConnectionString(azurite!.connectionString).getContainerClient(container)
      : undefined;
  return {
    runtime,
    clock,
    events,
    azureTier: service
      ? async (path) => (await service.getBlockBlobClient(path).getProperties()).accessTier
      : undefined,
    async replica() {
      const r = await open();
      replicas.push(r);
      return r;
    },
    async close() {
      for (const r of replicas) await r.close();
      await runtime.close();
      await tmp.cleanup();
    },
  };
}

/** Delivers what waits on one subscription through its real handler. */
async function deliver(runtime: TwinsRuntime, subscription: ConsumerName): Promise<void> {
  const handler = createHandler(runtime, subscription);
  const sub = runtime.subscriber.subscribe(subscription, handler, {
    concurrency: 1,
    types: CONSUMERS[subscription],
  });
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const s = (await runtime.busAdmin.stats()).find((x) => x.subscription === subscription);
    if (s?.active === 0) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  await sub.close(5_000);
}

async function project(runtime: TwinsRuntime): Promise<void> {
  await runtime.useCases.access.flush();
  for (const s of ['writer', 'tiering'] as const) await deliver(runtime, s);
}

const tiering = (runtime: TwinsRuntime) => runtime.tiering!;
const store = (runtime: TwinsRuntime) => runtime.content as TieredContentStore;
const ledger = (runtime: TwinsRuntime) => runtime.activity as TieringActivity;

async function save(runtime: TwinsRuntime, leadId: string, markdown = MARKDOWN) {
  return runtime.useCases.save.execute({
    leadId,
    document: documentFromJson({ markdown, metadata: { classification: 'hot' } }),
  });
}

async function bundles(runtime: TwinsRuntime): Promise<string[]> {
  const out: string[] = [];
  for await (const b of runtime.content.list(BUNDLE_PREFIX)) out.push(b.path);
  return out;
}

/** The entries of a bundle, read through a rehydrated copy (an archived blob cannot be read on Azure). */
async function bundleEntries(runtime: TwinsRuntime, bundle: string) {
  const copy = `test-copies/${bundle.replace(/\//g, '_')}`;
  expect(await store(runtime).startRehydration(bundle, copy, 'high')).toBe('completed');
  const blob = await runtime.content.get(copy);
  await runtime.content.delete(copy);
  return decodeBundle(blob!.body);
}

function tierEvents(events: TwinEvent[], leadId: string) {
  return events
    .filter((e) => e.type === 'twin.tier-changed.v1' && e.subject === leadId)
    .map((e) => {
      const d = e.data as { from: string; to: string };
      return `${d.from}->${d.to}`;
    });
}

describe.each<Profile>(['embedded', 'azure'])('tier lifecycle over simulated years (%s)', (profile) => {
  let world: World;
  let runtime: TwinsRuntime;

  beforeEach(async () => {
    world = await openWorld(profile);
    runtime = world.runtime;
  }, 60_000);
  afterEach(async () => {
    await world?.close();
  });

  const blobTier = async (path: string) => (await runtime.content.head(path))?.tier;

  it('a twin written, untouched for 400 days, then read: hot -> warm -> cold (bundled, Archive) -> rehydration job -> exact bytes -> hot', async () => {
    const leadId = 'life-1';
    const { version, blobPath } = await save(runtime, leadId);
    await project(runtime);
    expect((await runtime.activity.get(leadId))!.tier).toBe('hot');
    expect(await blobTier(blobPath)).toBe('hot');

    // day 31: warm, the blob goes Cool
    world.clock.advanceDays(31);
    const warm = await tiering(runtime).lifecycle.sweep();
    expect(warm!.moved).toEqual({ 'hot->warm': 1 });
    expect((await runtime.activity.get(leadId))!.tier).toBe('warm');
    expect(await blobTier(blobPath)).toBe('cool');
    if (world.azureTier) expect(await world.azureTier(blobPath)).toBe('Cool');
    expect(tierEvents(world.events, leadId)).toEqual(['hot->warm']);

    // day 400: cold, packed into an Archive bundle, the day-blob gone, the offset index in the activity store
    world.clock.advanceDays(400 - 31);
    const cold = await tiering(runtime).lifecycle.sweep();
    expect(cold).toMatchObject({ moved: { 'warm->cold': 1 }, bundles: 1 });
    expect((await runtime.activity.get(leadId))!.tier).toBe('cold');
    expect(tierEvents(world.events, leadId)).toEqual(['hot->warm', 'warm->cold']);
    expect(await runtime.content.head(blobPath)).toBeNull();
    const [bundle] = await bundles(runtime);
    expect(await blobTier(bundle)).toBe('archive');
    if (world.azureTier) expect(await world.azureTier(bundle)).toBe('Archive');
    const placed = await ledger(runtime).locate(leadId);
    expect(placed).toMatchObject({ version, tier: 'cold', location: { bundle } });
    const entries = await bundleEntries(runtime, bundle);
    expect(entries.map((e) => [e.leadId, e.version, e.body.toString('utf8')])).toEqual([
      [leadId, version, MARKDOWN],
    ]);

    // the read: not readable now, a rehydration job instead (the API answers 202 with it)
    const read = runtime.useCases.get.execute(leadId);
    await expect(read).rejects.toBeInstanceOf(TwinColdError);
    const job = await tiering(runtime).rehydration.start(leadId);
    expect(job).toMatchObject({ jobId: `${leadId}.${version}`, status: 'pending', leadId, version });
    // asking again gives the same job
    expect((await tiering(runtime).rehydration.start(leadId)).jobId).toBe(job.jobId);

    if (profile === 'embedded') {
      // the embedded profile's simulated rehydration time
      expect((await tiering(runtime).rehydration.status(job.jobId))!.status).toBe('pending');
      world.clock.ms += 3_600_000;
    }
    const done = await tiering(runtime).rehydration.status(job.jobId);
    expect(done).toMatchObject({ status: 'completed', jobId: job.jobId });
    const rehydrated = world.events.filter((e) => e.type === 'twin.rehydrated.v1');
    expect(rehydrated.map((e) => e.data)).toEqual([
      { leadId, version, jobId: job.jobId, at: world.clock.now().toISOString() },
    ]);
    expect(tierEvents(world.events, leadId)).toEqual(['hot->warm', 'warm->cold', 'cold->hot']);

    // readable again, byte for byte, from the Hot tier
    const twin = await runtime.useCases.get.execute(leadId);
    expect(twin.version).toBe(version);
    expect(Buffer.compare(twin.markdown, Buffer.from(MARKDOWN, 'utf8'))).toBe(0);
    expect(twin.tier).toBe('hot');
    expect((await runtime.activity.get(leadId))!.tier).toBe('hot');
    expect(await blobTier(contentPath(leadId, version))).toBe('hot');
    if (world.azureTier) expect(await world.azureTier(contentPath(leadId, version))).toMatch(/^Hot$|^$/);

    // and it stays hot: the read counts as activity; the emptied bundle goes
    await project(runtime);
    const after = await tiering(runtime).lifecycle.sweep();
    expect(after!.moved).toEqual({});
    expect(after!.emptied).toBe(1);
    expect(await bundles(runtime)).toEqual([]);

    // another 400 idle days: cold again, and a read starts a new job for the same version
    world.clock.advanceDays(400);
    expect((await tiering(runtime).lifecycle.sweep())!.moved).toEqual({ 'hot->cold': 1 });
    const again = await tiering(runtime).rehydration.start(leadId);
    expect(again).toMatchObject({ jobId: job.jobId, status: 'pending' });
    world.clock.ms += 3_600_000;
    expect((await tiering(runtime).rehydration.status(job.jobId))!.status).toBe('completed');
    expect((await runtime.useCases.get.execute(leadId)).markdown.toString('utf8')).toBe(MARKDOWN);
  }, 120_000);

  it('follows many twins over two simulated years, sweeping weekly: reads, writes and idleness move them', async () => {
    const written: Record<string, Version> = {};
    for (const id of ['a', 'b', 'c']) written[id] = (await save(runtime, `two-${id}`)).version;
    await project(runtime);
    const sweeps = startTieringSweeps(runtime);
    sweeps.stop();
    const seen: Record<string, string[]> = { a: [], b: [], c: [] };
    for (let day = 1; day <= 730; day += 7) {
      world.clock.advanceDays(7);
      // b is read every 20 weeks; c is written again in the second year
      if (day % 140 === 1) {
        await runtime.useCases.get.execute('two-b').catch(async (e) => {
          if (!(e instanceof TwinColdError)) throw e;
        });
      }
      if (day === 400) written.c = (await save(runtime, 'two-c')).version;
      await project(runtime);
      await sweeps.sweepNow();
      for (const id of ['a', 'b', 'c']) {
        const tier = (await runtime.activity.get(`two-${id}`))!.tier;
        if (seen[id].at(-1) !== tier) seen[id].push(tier);
      }
    }
    expect(seen.a).toEqual(['hot', 'warm', 'cold']);
    // read every 20 weeks: warm between reads, never cold
    expect(seen.b).not.toContain('cold');
    expect(seen.b.filter((t) => t === 'hot').length).toBeGreaterThanOrEqual(5);
    expect(seen.b.every((t, i) => i === 0 || t !== seen.b[i - 1])).toBe(true);
    expect(seen.c).toEqual(['hot', 'warm', 'cold', 'hot', 'warm']);
    expect(tierEvents(world.events, 'two-c')).toEqual(['hot->warm', 'warm->cold', 'cold->hot', 'hot->warm']);
    // c's write left a dead entry in the bundle it shared with a: half dead, so compaction rewrote it
    const left = await bundles(runtime);
    expect(left).toHaveLength(1);
    expect((await bundleEntries(runtime, left[0])).map((e) => e.leadId)).toEqual(['two-a']);
    // a's bytes are still exact after two years in a bundle
    const job = await tiering(runtime).rehydration.start('two-a');
    world.clock.ms += 3_600_000;
    expect((await tiering(runtime).rehydration.status(job.jobId))!.status).toBe('completed');
    expect((await runtime.useCases.get.execute('two-a')).markdown.toString('utf8')).toBe(MARKDOWN);
  }, 240_000);

  it('a second replica never sweeps at the same time (lease)', async () => {
    for (let i = 0; i < 5; i++) await save(runtime, `lease-${i}`);
    await project(runtime);
    const other = await world.replica();
    world.clock.advanceDays(40);
    const results = await Promise.all([tiering(runtime).lifecycle.sweep(), tiering(other).lifecycle.sweep()]);
    expect(results.filter((r) => r === null)).toHaveLength(1);
    const ran = results.find((r) => r !== null)!;
    expect(ran.moved).toEqual({ 'hot->warm': 5 });
    // released: the next sweep of either replica runs (and finds nothing to do)
    expect((await tiering(other).lifecycle.sweep())!.moved).toEqual({});
  }, 60_000);

  it('a sweep run twice leaves the same state (idempotent)', async () => {
    for (let i = 0; i < 4; i++) await save(runtime, `idem-${i}`);
    await project(runtime);
    world.clock.advanceDays(400);
    const first = await tiering(runtime).lifecycle.sweep();
    expect(first).toMatchObject({ moved: { 'hot->cold': 4 }, bundles: 1 });
    const snapshot = async () => {
      const blobs: string[] = [];
      for await (const b of runtime.content.list('')) blobs.push(`${b.path}:${b.tier}`);
      const placed = [];
      for (let i = 0; i < 4; i++) placed.push(await ledger(runtime).locate(`idem-${i}`));
      return { blobs, placed };
    };
    const before = await snapshot();
    const second = await tiering(runtime).lifecycle.sweep();
    expect(second).toEqual({ moved: {}, bundles: 0, compacted: 0, emptied: 0 });
    expect(await snapshot()).toEqual(before);
  }, 60_000);

  it('DELETE of a bundled twin erases its bytes from the bundle', async () => {
    await save(runtime, 'keep-me', 'KEEP-THESE-BYTES');
    await save(runtime, 'erase-me', 'SECRET-PERSONAL-BYTES');
    await project(runtime);
    world.clock.advanceDays(400);
    await tiering(runtime).lifecycle.sweep();
    const [bundle] = await bundles(runtime);
    expect((await bundleEntries(runtime, bundle)).map((e) => e.leadId).sort()).toEqual([
      'erase-me',
      'keep-me',
    ]);

    await runtime.useCases.delete.execute('erase-me', { actor: 'test' });
    await project(runtime);
    const now = await bundles(runtime);
    expect(now).toHaveLength(1);
    expect(now[0]).not.toBe(bundle);
    const entries = await bundleEntries(runtime, now[0]);
    expect(entries.map((e) => e.leadId)).toEqual(['keep-me']);
    // no blob anywhere holds the erased bytes
    for await (const b of runtime.content.list('')) {
      if (b.tier === 'archive') continue; // the only archived blob is the new bundle, checked above
      const blob = await runtime.content.get(b.path);
      expect(blob!.body.includes('SECRET-PERSONAL-BYTES'), b.path).toBe(false);
    }
    // the kept twin is still whole
    const job = await tiering(runtime).rehydration.start('keep-me');
    world.clock.ms += 3_600_000;
    expect((await tiering(runtime).rehydration.status(job.jobId))!.status).toBe('completed');
    expect((await runtime.useCases.get.execute('keep-me')).markdown.toString()).toBe('KEEP-THESE-BYTES');
  }, 60_000);

  it('DELETE of a twin that was rehydrated or written again erases the dead entries its old bundles hold', async () => {
    await save(runtime, 'stays', 'STAYS-BYTES');
    await save(runtime, 'was-read', 'READ-SECRET');
    await save(runtime, 'was-written', 'OLD-WRITTEN-SECRET');
    await project(runtime);
    world.clock.advanceDays(400);
    await tiering(runtime).lifecycle.sweep();
    const [bundle] = await bundles(runtime);
    // one comes back by a read (rehydration), one by a write: both leave dead bytes in the bundle
    const job = await tiering(runtime).rehydration.start('was-read');
    world.clock.ms += 3_600_000;
    expect((await tiering(runtime).rehydration.status(job.jobId))!.status).toBe('completed');
    await save(runtime, 'was-written', 'NEW-WRITTEN');
    await project(runtime);
    expect((await bundleEntries(runtime, bundle)).map((e) => e.leadId).sort()).toEqual([
      'stays',
      'was-read',
      'was-written',
    ]);

    await runtime.useCases.delete.execute('was-read', { actor: 'test' });
    await runtime.useCases.delete.execute('was-written', { actor: 'test' });
    await project(runtime);
    const now = await bundles(runtime);
    expect(now).toHaveLength(1);
    const entries = await bundleEntries(runtime, now[0]);
    expect(entries.map((e) => e.body.toString())).toEqual(['STAYS-BYTES']);
  }, 60_000);

  it('a write or a read of a warm twin makes it hot again (promotion by events)', async () => {
    const first = await save(runtime, 'promo-write');
    const read = await save(runtime, 'promo-read');
    await project(runtime);
    world.clock.advanceDays(45);
    await tiering(runtime).lifecycle.sweep();
    expect(await blobTier(first.blobPath)).toBe('cool');
    expect(await blobTier(read.blobPath)).toBe('cool');

    const second = await save(runtime, 'promo-write', '# new version');
    await runtime.useCases.get.execute('promo-read');
    await project(runtime);
    expect((await runtime.activity.get('promo-write'))!).toMatchObject({
      tier: 'hot',
      version: second.version,
    });
    expect(await blobTier(second.blobPath)).toBe('hot');
    expect(tierEvents(world.events, 'promo-write')).toEqual(['hot->warm', 'warm->hot']);
    expect((await runtime.activity.get('promo-read'))!.tier).toBe('hot');
    expect(await blobTier(read.blobPath)).toBe('hot');
    expect(tierEvents(world.events, 'promo-read')).toEqual(['hot->warm', 'warm->hot']);
    // the next sweep leaves both hot
    expect((await tiering(runtime).lifecycle.sweep())!.moved).toEqual({});
  }, 60_000);
});

/**
 * Azure's real behaviour, where Azurite is instant: the Archive copy stays pending for hours. The job and an
 * erasure must wait for it and finish on a later poll or sweep. Simulated by holding the copies pending.
 */
describe('tier lifecycle while Archive copies are pending (as on Azure)', () => {
  let world: World;
  let runtime: TwinsRuntime;
  let held = true;

  beforeEach(async () => {
    world = await openWorld('embedded', { TWINS_REHYDRATION_DELAY_MS: '0' });
    runtime = world.runtime;
    held = true;
    const content = store(runtime);
    const start = content.startRehydration.bind(content);
    const state = content.rehydrationState.bind(content);
    const pending = new Set<string>();
    content.startRehydration = async (source, target, priority) => {
      if (!held) return start(source, target, priority);
      pending.add(target);
      return 'pending';
    };
    content.rehydrationState = async (target) => (held && pending.has(target) ? 'pending' : state(target));
  }, 60_000);
  afterEach(async () => {
    await world?.close();
  });

  it('the job stays pending until the copy completes; an erasure is retried by the sweep until done', async () => {
    await save(runtime, 'wanted', 'WANTED');
    await save(runtime, 'erased', 'ERASED-SECRET');
    await project(runtime);
    world.clock.advanceDays(400);
    await tiering(runtime).lifecycle.sweep();
    const [bundle] = await bundles(runtime);

    const cold = await runtime.useCases.get.execute('wanted').catch((e: unknown) => e);
    expect(cold).toBeInstanceOf(TwinColdError);
    const job = await tiering(runtime).rehydration.start('wanted');
    world.clock.advanceDays(1);
    expect((await tiering(runtime).rehydration.status(job.jobId))!.status).toBe('pending');

    await runtime.useCases.delete.execute('erased', { actor: 'test' });
    await project(runtime);
    // not yet rewritten: the bundle's copy is pending; the erased twin is unreadable already
    expect(await bundles(runtime)).toEqual([bundle]);
    await expect(runtime.useCases.get.execute('erased')).rejects.toMatchObject({ code: 'TWIN.NOT_FOUND' });
    expect((await tiering(runtime).lifecycle.sweep())!.compacted).toBe(0);

    held = false; // the rehydration finished (hours later on Azure)
    const sweep = await tiering(runtime).lifecycle.sweep();
    expect(sweep!.compacted).toBe(1);
    const now = await bundles(runtime);
    expect(now).toHaveLength(1);
    expect((await bundleEntries(runtime, now[0])).map((e) => e.body.toString())).toEqual(['WANTED']);
    // the job's staged copy went with the old bundle: the next poll copies the new bundle and completes
    expect((await tiering(runtime).rehydration.status(job.jobId))!.status).toBe('completed');
    expect((await runtime.useCases.get.execute('wanted')).markdown.toString()).toBe('WANTED');
  }, 60_000);
});
