import { CONSUMER_NAMES, CONSUMERS, MAX_DELIVERY_COUNT } from '@twinstore/application';
import { TOPIC } from '@twinstore/contracts';
import { describe, expect, it } from 'vitest';
import { SERVICE_BUS_EMULATOR_NAMESPACE, serviceBusEmulatorConfig } from './servicebus-emulator-config';

describe('serviceBusEmulatorConfig', () => {
  const config = serviceBusEmulatorConfig();
  const [namespace] = config.UserConfig.Namespaces;

  it('declares the one namespace the emulator serves, with topic twin-events and no queues', () => {
    expect(config.UserConfig.Namespaces).toHaveLength(1);
    expect(namespace.Name).toBe(SERVICE_BUS_EMULATOR_NAMESPACE);
    expect(namespace.Queues).toEqual([]);
    expect(namespace.Topics.map((t) => t.Name)).toEqual([TOPIC]);
    expect(TOPIC).toBe('twin-events');
  });

  it('lists exactly the consumers, each with MAX_DELIVERY_COUNT', () => {
    const subscriptions = namespace.Topics[0].Subscriptions;
    expect(subscriptions.map((s) => s.Name)).toEqual(CONSUMER_NAMES);
    expect(CONSUMER_NAMES.length).toBeGreaterThan(0);
    for (const s of subscriptions) expect(s.Properties['MaxDeliveryCount']).toBe(MAX_DELIVERY_COUNT);
  });

  it('declares no rules: each subscription starts with $Default, as a deployed one does', () => {
    for (const s of namespace.Topics[0].Subscriptions) expect(s).not.toHaveProperty('Rules');
  });

  it("stays within the emulator's limits", () => {
    const topic = namespace.Topics[0];
    expect(topic.Properties['DuplicateDetectionHistoryTimeWindow']).toBe('PT5M');
    for (const s of topic.Subscriptions) {
      expect(s.Properties['DefaultMessageTimeToLive']).toBe('PT1H');
      expect(s.Properties['LockDuration']).toBe('PT1M');
    }
    expect(() => serviceBusEmulatorConfig(CONSUMERS, 11)).toThrow(/at most 10/);
    expect(() => serviceBusEmulatorConfig(CONSUMERS, 0)).toThrow(/positive integer/);
  });

  it('follows other consumers and delivery counts when given them', () => {
    const custom = serviceBusEmulatorConfig({ audit: ['twin.deleted.v1'] }, 3);
    const [sub] = custom.UserConfig.Namespaces[0].Topics[0].Subscriptions;
    expect(sub.Name).toBe('audit');
    expect(sub.Properties['MaxDeliveryCount']).toBe(3);
  });

  it('round-trips through JSON (it is written into the container as Config.json)', () => {
    expect(JSON.parse(JSON.stringify(config))).toEqual(config);
  });
});
