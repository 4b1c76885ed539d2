import { TwinEvent } from '@twinstore/contracts';
import { Version } from '@twinstore/domain';
import { ContentStore, done, HandlerOutcome, retry, SearchIndex, skip } from '../ports';
import { loadMarkdown } from './load-markdown';

/** Subscription `indexer`: the full-text index. Idempotency key: (leadId, version), version-guarded. */
export class IndexerHandler {
  constructor(
    private readonly index: SearchIndex,
    private readonly content: ContentStore,
  ) {}

  readonly handle = async (event: TwinEvent): Promise<HandlerOutcome> => {
    if (event.type === 'twin.deleted.v1') {
      const r = await this.index.remove(event.data.leadId, event.data.version as Version);
      return r === 'applied' ? done() : skip('already removed at this or a newer version');
    }
    if (event.type !== 'twin.saved.v1') return skip(`indexer does not handle ${event.type}`);
    const data = event.data;
    const markdown = await loadMarkdown(this.content, data);
    if (markdown === null) return skip('superseded by a newer version of the same day');
    if (markdown === 'missing') {
      const indexed = await this.index.version(data.leadId);
      if (indexed && indexed >= data.version) return skip('index already has this or a newer version');
      return retry('content blob of this version not readable yet');
    }
    const r = await this.index.upsert([
      {
        leadId: data.leadId,
        version: data.version as Version,
        markdown,
        metadata: data.metadata,
        savedAt: data.savedAt,
      },
    ]);
    return r.applied > 0 ? done() : skip('index already has this or a newer version');
  };
}
