import {
  BatchEventHandler,
  CacheWarmerHandler,
  ConsumerName,
  CONSUMERS,
  EventHandler,
  HandlerOutcome,
  IndexerHandler,
  isolatingBatchHandler,
  retry,
  RunningSubscription,
  TieringHandler,
  WriterHandler,
} from '@twinstore/application';
import { counter, histogram } from './metrics';
import { errorName } from './runtime';
import { TwinsRuntime } from './runtime.types';

/** The handler of each subscription, built from the runtime's ports. */
function createHandlers(
  runtime: TwinsRuntime,
  name: ConsumerName,
): { handle: EventHandler; handleBatch: BatchEventHandler } {
  switch (name) {
    case 'writer':
      return new WriterHandler(runtime.catalog, runtime.content);
    case 'indexer':
      return new IndexerHandler(runtime.search, runtime.content);
    case 'cache-warmer':
      return new CacheWarmerHandler(runtime.cache, runtime.content);
    case 'tiering':
      return new TieringHandler(
        runtime.activity,
        runtime.tiering && {
          ledger: runtime.tiering.lifecycle.ledger,
          lifecycle: runtime.tiering.lifecycle,
          publisher: runtime.publisher,
        },
      );
  }
}

/** The single-event handler of a subscription (the projection rebuild and tests deliver one event at a time). */
export function createHandler(runtime: TwinsRuntime, name: ConsumerName): EventHandler {
  return createHandlers(runtime, name).handle;
}

/** Upper bounds of the batch-size histogram (deliveries per handler call). */
const BATCH_SIZE_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000];

/**
 * Subscribes one consumer in batches, with metrics and structured logs per message. A batch that throws is
 * handled again message by message (isolatingBatchHandler); a message that still throws is a `retry` outcome
 * (the bus counts deliveries and dead-letters at the limit), counted as `error`, and only the error's class
 * is logged.
 */
export function startConsumer(runtime: TwinsRuntime, name: ConsumerName): RunningSubscription {
  const outcomes = counter(runtime.metrics, 'twins_messages_total', 'Messages handled by outcome', [
    'subscription',
    'type',
    'outcome',
  ]);
  const duration = histogram(runtime.metrics, 'twins_batch_handle_seconds', 'Handler duration per batch', [
    'subscription',
  ]);
  const sizes = histogram(
    runtime.metrics,
    'twins_batch_size',
    'Deliveries per handler call',
    ['subscription'],
    BATCH_SIZE_BUCKETS,
  );
  const log = runtime.logger.child({ subscription: name });
  const failed = new WeakSet<HandlerOutcome>();
  const handler = isolatingBatchHandler(
    createHandlers(runtime, name).handleBatch,
    ({ event, context }, e) => {
      log.warn(
        {
          leadId: event.subject,
          messageId: context.messageId,
          deliveryCount: context.deliveryCount,
          err: errorName(e),
        },
        'handler failed; will retry',
      );
      const outcome = retry(`handler failed (${errorName(e)})`);
      failed.add(outcome);
      return outcome;
    },
  );
  const { maxSize, maxWaitMs } = runtime.config.consumerBatch;
  const subscription = runtime.subscriber.subscribeBatch(
    name,
    async (deliveries) => {
      sizes.observe({ subscription: name }, deliveries.length);
      const end = duration.startTimer({ subscription: name });
      const results = await handler(deliveries).finally(end);
      results.forEach((outcome, i) => {
        const { event, context } = deliveries[i];
        const kind = failed.has(outcome) ? 'error' : outcome.kind;
        outcomes.inc({ subscription: name, type: event.type, outcome: kind });
        if (outcome.kind !== 'done' && kind !== 'error') {
          log.debug(
            {
              leadId: event.subject,
              messageId: context.messageId,
              outcome: outcome.kind,
              reason: outcome.reason,
            },
            'message not applied',
          );
        }
      });
      return results;
    },
    {
      concurrency: runtime.config.consumerConcurrency,
      types: CONSUMERS[name],
      maxBatchSize: maxSize,
      maxBatchWaitMs: maxWaitMs,
    },
  );
  log.info(
    { concurrency: runtime.config.consumerConcurrency, maxBatchSize: maxSize, maxBatchWaitMs: maxWaitMs },
    'consumer started',
  );
  return subscription;
}
