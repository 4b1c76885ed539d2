import {
  ServiceBusAdministrationClient,
  ServiceBusClient,
  ServiceBusReceivedMessage,
} from '@azure/service-bus';
import type { TokenCredential } from '@azure/core-auth';
import Long from 'long';
import { SubscriptionStats } from '@twinstore/application';

/** Where per-subscription backlog and dead-letter counts come from. */
export interface SubscriptionStatsSource {
  stats(topic: string, subscriptions: readonly string[]): Promise<SubscriptionStats[]>;
  /**
   * Active messages of the busiest subscription, counting may stop at `atMost`. Optional: without it the bus
   * takes the largest `active` of `stats()`.
   */
  backlog?(topic: string, subscriptions: readonly string[], atMost?: number): Promise<number>;
}

/**
 * The real counts: `getSubscriptionRuntimeProperties` of the administration client (HTTP/ATOM, needs Manage
 * rights). Service Bus updates them within seconds, not instantly.
 */
export class RuntimePropertiesStatsSource implements SubscriptionStatsSource {
  constructor(private readonly admin: ServiceBusAdministrationClient) {}

  static fromConnection(
    connection:
      { connectionString: string } | { fullyQualifiedNamespace: string; credential: TokenCredential },
  ): RuntimePropertiesStatsSource {
    return new RuntimePropertiesStatsSource(
      'connectionString' in connection
        ? new ServiceBusAdministrationClient(connection.connectionString)
        : new ServiceBusAdministrationClient(connection.fullyQualifiedNamespace, connection.credential),
    );
  }

  async stats(topic: string, subscriptions: readonly string[]): Promise<SubscriptionStats[]> {
    return Promise.all(
      subscriptions.map(async (subscription) => {
        const p = await this.admin.getSubscriptionRuntimeProperties(topic, subscription);
        return { subscription, active: p.activeMessageCount, deadLettered: p.deadLetterMessageCount };
      }),
    );
  }

  /** One runtime-properties call per subscription (a constant-cost read, whatever the backlog). */
  async backlog(topic: string, subscriptions: readonly string[]): Promise<number> {
    const counts = await Promise.all(
      subscriptions.map(
        async (s) => (await this.admin.getSubscriptionRuntimeProperties(topic, s)).activeMessageCount,
      ),
    );
    return Math.max(0, ...counts);
  }
}

const PEEK_PAGE = 250;

/**
 * Counts by peeking every message of the subscription and of its dead-letter queue, over AMQP only. For
 * brokers without the HTTP administration endpoint (the test broker, the emulator); it reads every message,
 * so it is for small backlogs and tests, not for scaling decisions.
 */
export class PeekStatsSource implements SubscriptionStatsSource {
  constructor(private readonly client: ServiceBusClient) {}

  async stats(topic: string, subscriptions: readonly string[]): Promise<SubscriptionStats[]> {
    return Promise.all(
      subscriptions.map(async (subscription) => {
        const [main, dead] = await Promise.all([
          countActive(this.client, topic, subscription, false),
          countActive(this.client, topic, subscription, true),
        ]);
        return { subscription, active: main, deadLettered: dead };
      }),
    );
  }

  /** Peeks the subscriptions' own queues only, and at most `atMost` messages of each. */
  async backlog(topic: string, subscriptions: readonly string[], atMost = Infinity): Promise<number> {
    const counts = await Promise.all(
      subscriptions.map((s) => countActive(this.client, topic, s, false, atMost)),
    );
    return Math.min(atMost, Math.max(0, ...counts));
  }
}

async function countActive(
  client: ServiceBusClient,
  topic: string,
  subscription: string,
  deadLetter: boolean,
  atMost = Infinity,
): Promise<number> {
  let count = 0;
  await peekAll(client, topic, subscription, deadLetter, Infinity, (m) => {
    // Peek also shows deferred and scheduled messages; Service Bus counts neither as active.
    if (m.state === 'active') count++;
    return count < atMost;
  });
  return count;
}

/**
 * Peeks from the first sequence number on, page by page, until `visit` says stop, `limit` messages were
 * seen or the entity has no more. Every page names its start: the SDK otherwise continues from the last
 * sequence number peeked on the same entity by anyone in this client.
 */
export async function peekAll(
  client: ServiceBusClient,
  topic: string,
  subscription: string,
  deadLetter: boolean,
  limit: number,
  visit: (message: ServiceBusReceivedMessage) => boolean,
): Promise<void> {
  const receiver = client.createReceiver(topic, subscription, {
    ...(deadLetter ? { subQueueType: 'deadLetter' as const } : {}),
    skipParsingBodyAsJson: true,
  });
  try {
    let from = Long.ZERO;
    let seen = 0;
    while (seen < limit) {
      const page = await receiver.peekMessages(Math.min(PEEK_PAGE, limit - seen), {
        fromSequenceNumber: from,
      });
      if (page.length === 0) return;
      for (const message of page) {
        seen++;
        if (!visit(message)) return;
      }
      const last = page[page.length - 1].sequenceNumber;
      if (!last) return;
      from = last.add(1);
    }
  } finally {
    await receiver.close();
  }
}
