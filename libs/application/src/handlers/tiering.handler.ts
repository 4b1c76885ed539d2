import { TwinEvent, TwinSavedV1 } from '@twinstore/contracts';
import { Version } from '@twinstore/domain';
import { mapBounded } from '../rebuild/day-blob';
import {
  ActivityStore,
  BatchEventHandler,
  done,
  EventPublisher,
  HandlerOutcome,
  skip,
  TierLedger,
} from '../ports';
import { TierLifecycle, tierChanged } from '../tiering/tier-lifecycle';
import { BATCH_IO_CONCURRENCY, projectInOrder } from './batch-runs';

/** What promotion needs: the placement ledger, the lifecycle (blob moves) and the publisher. */
export interface TieringPromotion {
  ledger: TierLedger;
  lifecycle: TierLifecycle;
  publisher: EventPublisher;
}

/**
 * Subscription `tiering`: last write and last access per twin. Version-guarded for writes and deletes. With
 * promotion: a write of a warm or cold twin makes it hot (the new version's blob is Hot) and a read of a warm
 * twin moves its blob back to Hot, each announced with `twin.tier-changed.v1`. A run of saves is one
 * `recordWrites` call and at most one publish.
 */
export class TieringHandler {
  constructor(
    private readonly activity: ActivityStore,
    private readonly promotion?: TieringPromotion,
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

  private async saved(run: TwinSavedV1[]): Promise<HandlerOutcome[]> {
    const promotion = this.promotion;
    const before = promotion
      ? await mapBounded(run, BATCH_IO_CONCURRENCY, (data) => promotion.ledger.locate(data.leadId))
      : [];
    const results = await this.activity.recordWrites(
      run.map((data) => ({
        leadId: data.leadId,
        version: data.version as Version,
        at: new Date(data.savedAt),
      })),
    );
    const promoted = new Set<string>();
    const events: TwinEvent[] = [];
    const outcomes = run.map((data, i): HandlerOutcome => {
      if (results[i] !== 'applied') return skip('activity already has this or a newer version');
      const placement = before[i];
      // The first applied write of a lead makes it hot; later ones of the same run find it hot already.
      if (promotion && placement && placement.tier !== 'hot' && !promoted.has(data.leadId)) {
        promoted.add(data.leadId);
        events.push(
          tierChanged(
            { leadId: data.leadId, version: data.version as Version, from: placement.tier, to: 'hot' },
            new Date(data.savedAt),
          ),
        );
      }
      return done();
    });
    if (promotion && events.length > 0) await promotion.publisher.publish(events);
    return outcomes;
  }

  private async other(event: TwinEvent): Promise<HandlerOutcome> {
    switch (event.type) {
      case 'twin.accessed.v1':
        await this.activity.recordAccess(event.data.leadId, new Date(event.data.accessedAt));
        await this.promotion?.lifecycle.promote(event.data.leadId);
        return done();
      case 'twin.deleted.v1': {
        const r = await this.activity.remove(event.data.leadId, event.data.version as Version);
        return r === 'applied' ? done() : skip('already removed');
      }
      default:
        return skip(`tiering does not handle ${event.type}`);
    }
  }
}
