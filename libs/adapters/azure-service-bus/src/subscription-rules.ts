import {
  CorrelationRuleFilter,
  isServiceBusError,
  RuleProperties,
  ServiceBusClient,
  SqlRuleFilter,
} from '@azure/service-bus';
import { EventType } from '@twinstore/contracts';
import { BUS_PROPERTY } from './cloud-event-message.mapping';

export const REDRIVE_RULE_NAME = 'twinstore-redrive';

export interface DesiredRule {
  name: string;
  filter: CorrelationRuleFilter;
}

/**
 * The rules that make a subscription receive exactly its event types: one correlation filter per type on the
 * message subject (cheaper for Service Bus than SQL), plus one taking messages redriven to this subscription
 * alone. `$Default` (take everything) goes.
 */
export function desiredRules(subscription: string, types: readonly EventType[]): DesiredRule[] {
  return [
    ...[...new Set(types)].sort().map((type) => ({ name: type, filter: { subject: type } })),
    {
      name: REDRIVE_RULE_NAME,
      filter: { applicationProperties: { [BUS_PROPERTY.redriveTo]: subscription } },
    },
  ];
}

export type RuleSyncResult = { changed: boolean } | { skipped: 'UnauthorizedAccess' };

/**
 * Makes the subscription's rules equal to the desired ones. New rules are added before old ones go, so no
 * message of a wanted type is dropped in between. The rule manager needs only Listen rights, which a consumer
 * has anyway; if even those are missing the sync is skipped (the adapter still completes unwanted types
 * unhandled) and the caller is told.
 */
export async function syncSubscriptionRules(
  client: ServiceBusClient,
  topic: string,
  subscription: string,
  types: readonly EventType[],
): Promise<RuleSyncResult> {
  const manager = client.createRuleManager(topic, subscription);
  try {
    const existing = new Map<string, RuleProperties>();
    for await (const rule of manager.listRules()) existing.set(rule.name, rule);
    const desired = desiredRules(subscription, types);
    let changed = false;
    // Replicas of every consumer start together and sync the same rules: an operation that fails because
    // another process already did it counts as done (checked against the rules as they are now).
    const ruleNow = async (name: string) => {
      for await (const rule of manager.listRules()) if (rule.name === name) return rule;
      return undefined;
    };
    for (const rule of desired) {
      const current = existing.get(rule.name);
      if (current && sameFilter(current.filter, rule.filter)) continue;
      if (current)
        await manager
          .deleteRule(rule.name)
          .catch(async (e) => (await ruleNow(rule.name)) && Promise.reject(e));
      await manager.createRule(rule.name, rule.filter).catch(async (e) => {
        const now = await ruleNow(rule.name);
        if (!now || !sameFilter(now.filter, rule.filter)) throw e;
      });
      changed = true;
    }
    const wanted = new Set(desired.map((r) => r.name));
    for (const name of existing.keys()) {
      if (wanted.has(name)) continue;
      await manager.deleteRule(name).catch(async (e) => (await ruleNow(name)) && Promise.reject(e));
      changed = true;
    }
    return { changed };
  } catch (error) {
    if (isServiceBusError(error) && error.code === 'UnauthorizedAccess')
      return { skipped: 'UnauthorizedAccess' };
    throw error;
  }
}

function sameFilter(actual: SqlRuleFilter | CorrelationRuleFilter, wanted: CorrelationRuleFilter): boolean {
  if ('sqlExpression' in actual) return false;
  const fields = [
    'correlationId',
    'messageId',
    'to',
    'replyTo',
    'subject',
    'sessionId',
    'replyToSessionId',
    'contentType',
  ] as const;
  if (fields.some((f) => (actual[f] ?? undefined) !== (wanted[f] ?? undefined))) return false;
  const a = actual.applicationProperties ?? {};
  const w = wanted.applicationProperties ?? {};
  const keys = new Set([...Object.keys(a), ...Object.keys(w)]);
  return [...keys].every((k) => a[k] === w[k]);
}
