import { TwinEvent } from '@twinstore/contracts';
import { cacheTtlSeconds, Version } from '@twinstore/domain';
import { ContentStore, done, HandlerOutcome, skip, TwinCache } from '../ports';
import { loadMarkdown } from './load-markdown';

/**
 * Subscription `cache-warmer`: puts each new version in the cache with the TTL of its classification
 * (hot 3600 s, warm 300 s, cold: not cached, and an older cached version is dropped). Compare-and-set on
 * version, so duplicates and late events change nothing.
 */
export class CacheWarmerHandler {
  constructor(
    private readonly cache: TwinCache,
    private readonly content: ContentStore,
  ) {}

  readonly handle = async (event: TwinEvent): Promise<HandlerOutcome> => {
    if (event.type === 'twin.deleted.v1') {
      await this.cache.invalidate(event.data.leadId, event.data.version as Version);
      return done();
    }
    if (event.type !== 'twin.saved.v1') return skip(`cache-warmer does not handle ${event.type}`);
    const data = event.data;
    const markdown = await loadMarkdown(this.content, data);
    if (markdown === null || markdown === 'missing') return skip('content not available at this version');
    const classification = data.metadata.classification;
    const r = await this.cache.set(
      {
        leadId: data.leadId,
        version: data.version as Version,
        classification,
        markdown: Buffer.from(markdown, 'utf8'),
      },
      cacheTtlSeconds(classification),
    );
    return r === 'applied' ? done() : skip('cache has this or a newer version');
  };
}
