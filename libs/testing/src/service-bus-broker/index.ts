export * from './service-bus-broker';
export { MAX_DELIVERY_COUNT_EXCEEDED } from './message-queue';
export type { SubscriptionRule, RuleFilter, CorrelationFields } from './subscription-rules';
