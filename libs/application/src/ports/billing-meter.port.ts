/**
 * Billable-operation counting: every adapter reports the operations Azure bills it for, by service,
 * kind and tier, so `twins cost report` can turn live counters into money. Embedded adapters report
 * the Azure operation they stand for (a file write is a Blob write, a SQLite catalog upsert is a Cosmos
 * write, ...). Implementations must be cheap and never throw.
 *
 * Operation names per service (the cost report prices exactly these):
 * - blob (tier = hot|cool|cold|archive): write, read, list, other, delete (free), set_tier (billed as a
 *   write in the destination tier), rehydrate_standard, rehydrate_high (archive reads at that priority).
 * - cosmos (tier = hot): read, write, query, delete (counts), request_units (amount = RU charged,
 *   from the response's requestCharge / x-ms-request-charge).
 * - table: transaction (a batch of up to 100 entities is one).
 * - search: query, index (documents sent), delete (capacity-billed: counted, not priced per request).
 * - serviceBus: send, receive, complete, abandon, dead_letter, renew_lock, peek, schedule, management.
 * - redis: get, set, delete (capacity-billed: counted, not priced per request).
 */
export type BillableService = 'blob' | 'cosmos' | 'table' | 'search' | 'serviceBus' | 'redis';

export interface BillingMeter {
  /** Adds `amount` (default 1) to the counter of (service, operation, tier). Tier defaults to `none`. */
  record(service: BillableService, operation: string, tier?: string, amount?: number): void;
}

/** A meter that counts nothing (the default when none is wired). */
export const NO_BILLING_METER: BillingMeter = { record: () => undefined };
