import type { ServiceBusAdministrationClient } from '@azure/service-bus';
import { describe, expect, it } from 'vitest';
import { RuntimePropertiesStatsSource } from './subscription-stats';

describe('RuntimePropertiesStatsSource.backlog', () => {
  it('takes the busiest subscription from one runtime-properties read per subscription', async () => {
    const asked: string[] = [];
    const counts: Record<string, number> = { writer: 12, indexer: 40_000, tiering: 0 };
    const admin = {
      getSubscriptionRuntimeProperties: async (topic: string, subscription: string) => {
        asked.push(`${topic}/${subscription}`);
        return { activeMessageCount: counts[subscription], deadLetterMessageCount: 7 };
      },
    } as unknown as ServiceBusAdministrationClient;
    const source = new RuntimePropertiesStatsSource(admin);

    expect(await source.backlog('twin-events', ['writer', 'indexer', 'tiering'])).toBe(40_000);
    expect(asked).toEqual(['twin-events/writer', 'twin-events/indexer', 'twin-events/tiering']);
    expect(await source.backlog('twin-events', [])).toBe(0);
  });
});
