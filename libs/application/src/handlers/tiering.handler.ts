import { TwinEvent } from '@twinstore/contracts';
import { Version } from '@twinstore/domain';
import { ActivityStore, done, EventPublisher, HandlerOutcome, skip, TierLedger } from '../ports';
import { TierLifecycle, tierChanged } from '../tiering/tier-lifecycle';

/** What promotion needs: the placement ledger, the lifecycle (blob moves) and the publisher. */
export interface TieringPromotion {
  ledger: TierLedger;
  lifecycle: TierLifecycle;
  publisher: EventPublisher;
}

/**
 * Subscription `tiering`: last write and last access per twin. Version-guarded for writes and deletes. With
 * promotion: a write of a warm or cold twin makes it hot (the new version's blob is Hot) and a read of a warm
 * twin moves its blob back to Hot, each announced with `twin.tier-changed.v1`.
 */
export class TieringHandler {
  constructor(
    private readonly activity: ActivityStore,
    private readonly promotion?: TieringPromotion,
  ) {}

  readonly handle = async (event: TwinEvent): Promise<HandlerOutcome> => {
    switch (event.type) {
      case 'twin.saved.v1': {
        const before = await this.promotion?.ledger.locate(event.data.leadId);
        const r = await this.activity.recordWrite(
          event.data.leadId,
          event.data.version as Version,
          new Date(event.data.savedAt),
        );
        if (r !== 'applied') return skip('activity already has this or a newer version');
        if (this.promotion && before && before.tier !== 'hot') {
          await this.promotion.publisher.publish([
            tierChanged(
              {
                leadId: event.data.leadId,
                version: event.data.version as Version,
                from: before.tier,
                to: 'hot',
              },
              new Date(event.data.savedAt),
            ),
          ]);
        }
        return done();
      }
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
  };
}
