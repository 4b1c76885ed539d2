import { TwinEvent } from '@twinstore/contracts';
import { Version } from '@twinstore/domain';
import { ActivityStore, done, HandlerOutcome, skip } from '../ports';

/** Subscription `tiering`: last write and last access per twin. Version-guarded for writes and deletes. */
export class TieringHandler {
  constructor(private readonly activity: ActivityStore) {}

  readonly handle = async (event: TwinEvent): Promise<HandlerOutcome> => {
    switch (event.type) {
      case 'twin.saved.v1': {
        const r = await this.activity.recordWrite(
          event.data.leadId,
          event.data.version as Version,
          new Date(event.data.savedAt),
        );
        return r === 'applied' ? done() : skip('activity already has this or a newer version');
      }
      case 'twin.accessed.v1':
        await this.activity.recordAccess(event.data.leadId, new Date(event.data.accessedAt));
        return done();
      case 'twin.deleted.v1': {
        const r = await this.activity.remove(event.data.leadId, event.data.version as Version);
        return r === 'applied' ? done() : skip('already removed');
      }
    }
  };
}
