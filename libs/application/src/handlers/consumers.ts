import { EventType } from '@twinstore/contracts';

/** The subscriptions of topic `twin-events`: one per consumer, each with the event types it receives. */
export const CONSUMERS = {
  writer: ['twin.saved.v1', 'twin.deleted.v1'],
  indexer: ['twin.saved.v1', 'twin.deleted.v1'],
  'cache-warmer': ['twin.saved.v1', 'twin.deleted.v1'],
  tiering: ['twin.saved.v1', 'twin.deleted.v1', 'twin.accessed.v1'],
} as const satisfies Record<string, readonly EventType[]>;

export type ConsumerName = keyof typeof CONSUMERS;
export const CONSUMER_NAMES = Object.keys(CONSUMERS) as ConsumerName[];
export const MAX_DELIVERY_COUNT = 10;
