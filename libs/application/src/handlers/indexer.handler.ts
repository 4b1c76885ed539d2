import { TwinEvent, TwinSavedV1 } from '@twinstore/contracts';
import { Version } from '@twinstore/domain';
import { mapBounded } from '../rebuild/day-blob';
import {
  BatchEventHandler,
  ContentStore,
  done,
  HandlerOutcome,
  retry,
  SearchDocument,
  SearchIndex,
  skip,
} from '../ports';
import { BATCH_IO_CONCURRENCY, projectInOrder } from './batch-runs';
import { loadMarkdown } from './load-markdown';

/**
 * Subscription `indexer`: the full-text index. Idempotency key: (leadId, version), version-guarded. A run of
 * saves is one `upsert` call with the newest document of each lead.
 */
export class IndexerHandler {
  constructor(
    private readonly index: SearchIndex,
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
    if (event.type !== 'twin.deleted.v1') return skip(`indexer does not handle ${event.type}`);
    const r = await this.index.remove(event.data.leadId, event.data.version as Version);
    return r === 'applied' ? done() : skip('already removed at this or a newer version');
  }

  private async saved(run: TwinSavedV1[]): Promise<HandlerOutcome[]> {
    const prepared = await mapBounded(run, BATCH_IO_CONCURRENCY, (data) => this.documentOf(data));
    const outcomes = prepared.map((p) => (isDocument(p) ? done() : p));
    // The newest document of each lead; an older one of the same run would be stale once it is indexed.
    const newest = new Map<string, { document: SearchDocument; slot: number }>();
    run.forEach((data, i) => {
      const document = prepared[i];
      if (!isDocument(document)) return;
      const previous = newest.get(data.leadId);
      if (previous && previous.document.version >= document.version) {
        outcomes[i] = skip('superseded by a newer version in the same batch');
        return;
      }
      if (previous) outcomes[previous.slot] = skip('superseded by a newer version in the same batch');
      newest.set(data.leadId, { document, slot: i });
    });
    if (newest.size === 0) return outcomes;
    const r = await this.index.upsert([...newest.values()].map((n) => n.document));
    // The index counts stale documents without naming them: all done or all skipped is exact, a mix is done.
    const outcome = r.applied > 0 ? done() : skip('index already has this or a newer version');
    for (const { slot } of newest.values()) outcomes[slot] = outcome;
    return outcomes;
  }

  /** The document to index, or the outcome of a save whose content cannot be indexed. */
  private async documentOf(data: TwinSavedV1): Promise<SearchDocument | HandlerOutcome> {
    const markdown = await loadMarkdown(this.content, data);
    if (markdown === null) return skip('superseded by a newer version of the same day');
    if (markdown === 'missing') {
      const indexed = await this.index.version(data.leadId);
      if (indexed && indexed >= data.version) return skip('index already has this or a newer version');
      return retry('content blob of this version not readable yet');
    }
    return {
      leadId: data.leadId,
      version: data.version as Version,
      markdown,
      metadata: data.metadata,
      savedAt: data.savedAt,
    };
  }
}

function isDocument(value: SearchDocument | HandlerOutcome): value is SearchDocument {
  return 'markdown' in value;
}
