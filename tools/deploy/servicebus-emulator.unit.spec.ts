import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CorrelationRuleFilter } from '@azure/service-bus';
import { CONSUMERS, MAX_DELIVERY_COUNT } from '@twinstore/application';
import { desiredRules } from '@twinstore/adapters-azure-service-bus';
import { TOPIC } from '@twinstore/contracts';
import { describe, expect, it } from 'vitest';
import { environmentOf, readCompose, ROOT } from './deploy-files';

/** The Service Bus emulator's entity file (its `Config.json` schema, as its installer documents it). */
interface EmulatorConfig {
  UserConfig: {
    Namespaces: {
      Name: string;
      Queues: unknown[];
      Topics: {
        Name: string;
        Properties: Record<string, unknown>;
        Subscriptions: {
          Name: string;
          Properties: Record<string, unknown>;
          Rules?: {
            Name: string;
            Properties: { FilterType: string; CorrelationFilter?: Record<string, unknown> };
          }[];
        }[];
      }[];
    }[];
    Logging: { Type: string };
  };
}

const config = JSON.parse(
  readFileSync(join(ROOT, 'deploy', 'servicebus-emulator', 'config.json'), 'utf8'),
) as EmulatorConfig;

/** The emulator's correlation filter fields, by the SDK's names. */
const FIELD: Record<string, keyof CorrelationRuleFilter> = {
  ContentType: 'contentType',
  CorrelationId: 'correlationId',
  Label: 'subject',
  MessageId: 'messageId',
  ReplyTo: 'replyTo',
  ReplyToSessionId: 'replyToSessionId',
  SessionId: 'sessionId',
  To: 'to',
  Properties: 'applicationProperties',
};

function asSdkFilter(filter: Record<string, unknown>): CorrelationRuleFilter {
  return Object.fromEntries(
    Object.entries(filter).map(([key, value]) => {
      if (!FIELD[key]) throw new Error(`not a correlation filter field of the emulator: ${key}`);
      return [FIELD[key], value];
    }),
  ) as CorrelationRuleFilter;
}

const topicName = environmentOf(readCompose().services['writer']).TWINS_AZURE_SERVICEBUS_TOPIC ?? TOPIC;

describe('deploy/servicebus-emulator/config.json', () => {
  const namespaces = config.UserConfig.Namespaces;
  const topics = namespaces.flatMap((n) => n.Topics);
  const topic = topics.find((t) => t.Name === topicName);

  it('declares one namespace with the topic the services use, and nothing else', () => {
    expect(topicName).toBe(TOPIC);
    expect(namespaces).toHaveLength(1);
    expect(namespaces[0].Queues).toEqual([]);
    expect(topics.map((t) => t.Name)).toEqual([TOPIC]);
    expect(topic!.Properties.RequiresDuplicateDetection).toBe(true);
  });

  it('declares exactly one subscription per consumer', () => {
    expect(topic!.Subscriptions.map((s) => s.Name).sort()).toEqual(Object.keys(CONSUMERS).sort());
  });

  it.each(Object.keys(CONSUMERS))(
    '%s: dead-letters after MAX_DELIVERY_COUNT deliveries and on expiry, 60 s lock, no sessions',
    (name) => {
      const sub = topic!.Subscriptions.find((s) => s.Name === name)!;
      expect(sub.Properties.MaxDeliveryCount).toBe(MAX_DELIVERY_COUNT);
      expect(sub.Properties.DeadLetteringOnMessageExpiration).toBe(true);
      expect(sub.Properties.LockDuration).toBe('PT1M');
      expect(sub.Properties.RequiresSession).toBe(false);
      expect(sub.Properties.ForwardTo).toBe('');
    },
  );

  it.each(Object.entries(CONSUMERS))(
    '%s: declares the rules the adapter would sync (its event types, and redrives meant for it)',
    (name, types) => {
      const sub = topic!.Subscriptions.find((s) => s.Name === name)!;
      const rules = (sub.Rules ?? []).map((r) => {
        expect(r.Properties.FilterType, r.Name).toBe('Correlation');
        return { name: r.Name, filter: asSdkFilter(r.Properties.CorrelationFilter ?? {}) };
      });
      const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);
      expect(rules.sort(byName)).toEqual(desiredRules(name, types).sort(byName));
    },
  );

  it('the rule translation refuses fields the emulator does not know', () => {
    expect(asSdkFilter({ Label: 'x', Properties: { a: 'b' } })).toEqual({
      subject: 'x',
      applicationProperties: { a: 'b' },
    });
    expect(() => asSdkFilter({ Subject: 'x' })).toThrow(/Subject/);
  });
});
