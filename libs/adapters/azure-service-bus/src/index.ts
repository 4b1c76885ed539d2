export * from './cloud-event-message.mapping';
export * from './failure-reason';
export * from './service-bus-event-bus.adapter';
export * from './service-bus-subscription.runner';
export * from './subscription-rules';
export * from './subscription-stats';
