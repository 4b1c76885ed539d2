import { BatchEventHandler, Delivery, HandlerOutcome, retry } from '../ports';

/** Decides the outcome of a delivery whose handling threw when it was handled alone. */
export type OnDeliveryError = (delivery: Delivery, error: unknown) => HandlerOutcome;

const retryOnError: OnDeliveryError = (_delivery, error) =>
  retry(`handler failed (${error instanceof Error ? error.name : 'non-error thrown'})`);

/**
 * Runs the batch in one call; if that call throws, handles the deliveries again one at a time, in delivery
 * order, so a poison message fails alone (retry, then dead letter at the delivery limit) while the others of
 * its batch complete. Re-handling what the failed call already applied is safe: every projection is
 * idempotent and version-guarded.
 */
export function isolatingBatchHandler(
  handler: BatchEventHandler,
  onError: OnDeliveryError = retryOnError,
): BatchEventHandler {
  return async (deliveries) => {
    if (deliveries.length === 0) return [];
    try {
      return await handler(deliveries);
    } catch (e) {
      if (deliveries.length === 1) return [onError(deliveries[0], e)];
    }
    const outcomes: HandlerOutcome[] = [];
    for (const delivery of deliveries) {
      try {
        outcomes.push(...(await handler([delivery])));
      } catch (e) {
        outcomes.push(onError(delivery, e));
      }
    }
    return outcomes;
  };
}
