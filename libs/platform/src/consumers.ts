import {
  CacheWarmerHandler,
  ConsumerName,
  CONSUMERS,
  EventHandler,
  IndexerHandler,
  RunningSubscription,
  TieringHandler,
  WriterHandler,
} from '@twinstore/application';
import { counter, histogram } from './metrics';
import { errorName } from './runtime';
import { TwinsRuntime } from './runtime.types';

/** The handler of each subscription, built from the runtime's ports. */
export function createHandler(runtime: TwinsRuntime, name: ConsumerName): EventHandler {
  switch (name) {
    case 'writer':
      return new WriterHandler(runtime.catalog, runtime.content).handle;
    case 'indexer':
      return new IndexerHandler(runtime.search, runtime.content).handle;
    case 'cache-warmer':
      return new CacheWarmerHandler(runtime.cache, runtime.content).handle;
    case 'tiering':
      return new TieringHandler(
        runtime.activity,
        runtime.tiering && {
          ledger: runtime.tiering.lifecycle.ledger,
          lifecycle: runtime.tiering.lifecycle,
          publisher: runtime.publisher,
        },
      ).handle;
  }
}

/**
 * Subscribes one consumer with metrics and structured logs around its handler. An exception is a `retry`
 * outcome (the bus counts deliveries and dead-letters at the limit); only the error's class is logged.
 */
export function startConsumer(runtime: TwinsRuntime, name: ConsumerName): RunningSubscription {
  const handler = createHandler(runtime, name);
  const outcomes = counter(runtime.metrics, 'twins_messages_total', 'Messages handled by outcome', [
    'subscription',
    'type',
    'outcome',
  ]);
  const duration = histogram(runtime.metrics, 'twins_message_handle_seconds', 'Handler duration', [
    'subscription',
    'type',
  ]);
  const log = runtime.logger.child({ subscription: name });
  const subscription = runtime.subscriber.subscribe(
    name,
    async (event, context) => {
      const end = duration.startTimer({ subscription: name, type: event.type });
      try {
        const outcome = await handler(event, context);
        outcomes.inc({ subscription: name, type: event.type, outcome: outcome.kind });
        if (outcome.kind !== 'done') {
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
        return outcome;
      } catch (e) {
        outcomes.inc({ subscription: name, type: event.type, outcome: 'error' });
        log.warn(
          {
            leadId: event.subject,
            messageId: context.messageId,
            deliveryCount: context.deliveryCount,
            err: errorName(e),
          },
          'handler failed; will retry',
        );
        throw e;
      } finally {
        end();
      }
    },
    { concurrency: runtime.config.consumerConcurrency, types: CONSUMERS[name] },
  );
  log.info({ concurrency: runtime.config.consumerConcurrency }, 'consumer started');
  return subscription;
}
