import { TwinEvent, TwinSavedV1 } from '@twinstore/contracts';
import { cacheTtlSeconds, Version } from '@twinstore/domain';
import { mapBounded } from '../rebuild/day-blob';
import { BatchEventHandler, CachedTwin, ContentStore, done, HandlerOutcome, skip, TwinCache } from '../ports';
import { BATCH_IO_CONCURRENCY, projectInOrder } from './batch-runs';
import { loadMarkdown } from './load-markdown';

/**
 * Subscription `cache-warmer`: puts each new version in the cache with the TTL of its classification
 * (hot 3600 s, warm 300 s, cold: not cached, and an older cached version is dropped). Compare-and-set on
 * version, so duplicates and late events change nothing. A run of saves is one `setMany` round trip.
 */
export class CacheWarmerHandler {
  constructor(
    private readonly cache: TwinCache,
    private readonly content: ContentStore,
  ) {}

  readonly handleBatch: BatchEventHandler = (deliveries) => this.project(deliveries.map((d) => d.event));

  /** One event alone (the projection rebuild delivers this way). */
  readonly handle = async (event: TwinEvent): Promise<HandlerOutcome> => (await this.project([event]))[0];

  private project(events: readonly TwinEvent[]): Promise<HandlerOutcome[]> {
    return projectInOrder(
      events,
      (run) => this.saved(run),
      (event) => this.other(event),
    );
  }

  private async other(event: TwinEvent): Promise<HandlerOutcome> {
    if (event.type !== 'twin.deleted.v1') return skip(`cache-warmer does not handle ${event.type}`);
    await this.cache.invalidate(event.data.leadId, event.data.version as Version);
    return done();
  }

  private async saved(run: TwinSavedV1[]): Promise<HandlerOutcome[]> {
    const outcomes: HandlerOutcome[] = [];
    const entries: { entry: CachedTwin; ttlSeconds: number }[] = [];
    const slots: number[] = [];
    const markdowns = await mapBounded(run, BATCH_IO_CONCURRENCY, (data) => loadMarkdown(this.content, data));
    run.forEach((data, i) => {
      const markdown = markdowns[i];
      if (markdown === null || markdown === 'missing') {
        outcomes.push(skip('content not available at this version'));
        return;
      }
      const classification = data.metadata.classification;
      slots.push(i);
      outcomes.push(done());
      entries.push({
        entry: {
          leadId: data.leadId,
          version: data.version as Version,
          classification,
          markdown: Buffer.from(markdown, 'utf8'),
        },
        ttlSeconds: cacheTtlSeconds(classification),
      });
    });
    if (entries.length === 0) return outcomes;
    const results = await this.cache.setMany(entries);
    results.forEach((r, j) => {
      if (r !== 'applied') outcomes[slots[j]] = skip('cache has this or a newer version');
    });
    return outcomes;
  }
}
