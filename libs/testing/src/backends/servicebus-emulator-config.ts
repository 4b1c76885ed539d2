import { CONSUMERS, MAX_DELIVERY_COUNT } from '@twinstore/application';
import { TOPIC } from '@twinstore/contracts';

/** The emulator serves exactly one namespace, and it has this name. */
export const SERVICE_BUS_EMULATOR_NAMESPACE = 'sbemulatorns';

/** The emulator's limits (its Config-schema.json): at most 10 deliveries, a duplicate window of 5 min. */
const EMULATOR_MAX_DELIVERY_COUNT = 10;

export interface EmulatorSubscription {
  Name: string;
  Properties: Record<string, string | number | boolean>;
}

/** The Service Bus emulator's `Config.json` (the shape its installer's schema documents). */
export interface ServiceBusEmulatorConfig {
  UserConfig: {
    Namespaces: {
      Name: string;
      Queues: unknown[];
      Topics: {
        Name: string;
        Properties: Record<string, string | boolean>;
        Subscriptions: EmulatorSubscription[];
      }[];
    }[];
    Logging: { Type: 'Console' | 'File' };
  };
}

/**
 * The emulator creates entities from this file only, at start. Generated from the application's constants:
 * topic `twin-events` and one subscription per entry of `CONSUMERS`, with `MaxDeliveryCount =
 * MAX_DELIVERY_COUNT`. No rules are declared, so each subscription starts with `$Default` (everything), as
 * one created by the deployment does; the Service Bus adapter narrows it to its event types when it opens.
 */
export function serviceBusEmulatorConfig(
  consumers: Record<string, readonly string[]> = CONSUMERS,
  maxDeliveryCount = MAX_DELIVERY_COUNT,
): ServiceBusEmulatorConfig {
  if (!Number.isInteger(maxDeliveryCount) || maxDeliveryCount < 1) {
    throw new Error(`max delivery count must be a positive integer, got ${maxDeliveryCount}`);
  }
  if (maxDeliveryCount > EMULATOR_MAX_DELIVERY_COUNT) {
    throw new Error(
      `the Service Bus emulator allows a max delivery count of at most ${EMULATOR_MAX_DELIVERY_COUNT}, got ${maxDeliveryCount}`,
    );
  }
  return {
    UserConfig: {
      Namespaces: [
        {
          Name: SERVICE_BUS_EMULATOR_NAMESPACE,
          Queues: [],
          Topics: [
            {
              Name: TOPIC,
              Properties: {
                DefaultMessageTimeToLive: 'PT1H', // the emulator's maximum
                RequiresDuplicateDetection: true,
                DuplicateDetectionHistoryTimeWindow: 'PT5M', // the emulator's maximum (Azure's default is 10 min)
              },
              Subscriptions: Object.keys(consumers).map((name) => ({
                Name: name,
                Properties: {
                  DeadLetteringOnMessageExpiration: false,
                  DefaultMessageTimeToLive: 'PT1H',
                  LockDuration: 'PT1M',
                  MaxDeliveryCount: maxDeliveryCount,
                  ForwardDeadLetteredMessagesTo: '',
                  ForwardTo: '',
                  RequiresSession: false,
                },
              })),
            },
          ],
        },
      ],
      Logging: { Type: 'Console' },
    },
  };
}
