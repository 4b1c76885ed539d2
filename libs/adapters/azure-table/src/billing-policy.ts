import { TableServiceClientOptions } from '@azure/data-tables';
import { BillingMeter } from '@twinstore/application';

/**
 * Table Storage bills every request as one transaction (a batch of up to 100 entities is one request),
 * retries included. This pipeline policy counts them for every table store built with these client
 * options (`clientOptions` of the activity, idempotency, API-key and audit stores).
 */
export function tableBillingClientOptions(
  meter: BillingMeter,
  base: TableServiceClientOptions = {},
): TableServiceClientOptions {
  return {
    ...base,
    additionalPolicies: [
      ...(base.additionalPolicies ?? []),
      {
        position: 'perRetry',
        policy: {
          name: 'twinsBillingMeter',
          sendRequest: (request, next) => {
            meter.record('table', 'transaction', 'none');
            return next(request);
          },
        },
      },
    ],
  };
}
