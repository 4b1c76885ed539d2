import { types } from 'rhea';
import type { AmqpMessage } from './amqp-message';

/** The subset of Service Bus rule filters this broker evaluates. */
export type RuleFilter =
  | { kind: 'true' }
  | { kind: 'false' }
  /** `sys.Label = 'x'` or `sys.Label IN ('x', 'y')`, the only SQL this broker understands beyond 1=1 / 1=0. */
  | { kind: 'sql'; expression: string; labels: readonly string[] }
  | { kind: 'correlation'; fields: CorrelationFields };

export interface CorrelationFields {
  correlationId?: string;
  messageId?: string;
  to?: string;
  replyTo?: string;
  subject?: string;
  sessionId?: string;
  replyToSessionId?: string;
  contentType?: string;
  applicationProperties?: Record<string, unknown>;
}

export interface SubscriptionRule {
  name: string;
  filter: RuleFilter;
}

export const DEFAULT_RULE_NAME = '$Default';
export const DEFAULT_RULE: SubscriptionRule = { name: DEFAULT_RULE_NAME, filter: { kind: 'true' } };

export class UnsupportedRuleError extends Error {
  override readonly name = 'UnsupportedRuleError';
}

export function matches(filter: RuleFilter, message: AmqpMessage): boolean {
  switch (filter.kind) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'sql':
      return message.subject !== undefined && filter.labels.includes(message.subject);
    case 'correlation': {
      const f = filter.fields;
      const pairs: Array<[unknown, unknown]> = [
        [f.correlationId, message.correlation_id],
        [f.messageId, message.message_id],
        [f.to, message.to],
        [f.replyTo, message.reply_to],
        [f.subject, message.subject],
        [f.sessionId, message.group_id],
        [f.replyToSessionId, message.reply_to_group_id],
        [f.contentType, message.content_type],
      ];
      if (pairs.some(([wanted, actual]) => wanted !== undefined && String(actual) !== String(wanted)))
        return false;
      const props = message.application_properties ?? {};
      return Object.entries(f.applicationProperties ?? {}).every(([key, value]) => props[key] === value);
    }
  }
}

/** A filter from an SQL expression, refusing what this broker cannot evaluate rather than guessing. */
export function sqlFilter(expression: string): RuleFilter {
  const compact = expression.replace(/\s+/g, '');
  if (compact === '1=1') return { kind: 'true' };
  if (compact === '1=0') return { kind: 'false' };
  const equal = /^\s*sys\.label\s*=\s*'([^']*)'\s*$/i.exec(expression);
  if (equal) return { kind: 'sql', expression, labels: [equal[1]] };
  const list = /^\s*sys\.label\s+in\s*\(([^)]*)\)\s*$/i.exec(expression);
  if (list) {
    const labels = list[1].split(',').map((item) => /^\s*'([^']*)'\s*$/.exec(item)?.[1]);
    if (labels.every((l): l is string => l !== undefined)) return { kind: 'sql', expression, labels };
  }
  throw new UnsupportedRuleError(`the test broker does not evaluate SQL filter "${expression}"`);
}

/** The `rule-description` map of an add-rule request, as rhea decodes it. */
export function ruleFromRequest(name: string, description: unknown): SubscriptionRule {
  const d = (description ?? {}) as Record<string, Record<string, unknown> | undefined>;
  if (d['sql-rule-action']) throw new UnsupportedRuleError('the test broker does not run rule actions');
  const sql = d['sql-filter'];
  if (sql) return { name, filter: sqlFilter(String(sql.expression ?? '')) };
  const correlation = d['correlation-filter'];
  if (correlation) {
    const text = (key: string): string | undefined =>
      correlation[key] === undefined || correlation[key] === null ? undefined : String(correlation[key]);
    const properties = correlation.properties;
    return {
      name,
      filter: {
        kind: 'correlation',
        fields: {
          correlationId: text('correlation-id'),
          messageId: text('message-id'),
          to: text('to'),
          replyTo: text('reply-to'),
          subject: text('label'),
          sessionId: text('session-id'),
          replyToSessionId: text('reply-to-session-id'),
          contentType: text('content-type'),
          applicationProperties:
            properties && typeof properties === 'object'
              ? (properties as Record<string, unknown>)
              : undefined,
        },
      },
    };
  }
  throw new UnsupportedRuleError('rule description has neither an SQL nor a correlation filter');
}

/** AMQP descriptor codes of rule descriptions (Service Bus AMQP request/response reference). */
const DESCRIPTOR = {
  ruleDescription: 0x0000013700000004,
  sqlFilter: 0x0000001370000006,
  trueFilter: 0x0000001370000007,
  falseFilter: 0x0000001370000008,
  correlationFilter: 0x0000001370000009,
  emptyRuleAction: 0x0000013700000005,
} as const;

/** A rule as an enumerate-rules response carries it. */
export function encodeRule(rule: SubscriptionRule, createdAt: Date): unknown {
  const described = (code: number, fields: unknown[]) => types.wrap_described(fields, code);
  const f = rule.filter;
  let filter: unknown;
  switch (f.kind) {
    case 'true':
      filter = described(DESCRIPTOR.trueFilter, ['1=1', 20]);
      break;
    case 'false':
      filter = described(DESCRIPTOR.falseFilter, ['1=0', 20]);
      break;
    case 'sql':
      filter = described(DESCRIPTOR.sqlFilter, [f.expression, 20]);
      break;
    case 'correlation': {
      const c = f.fields;
      filter = described(DESCRIPTOR.correlationFilter, [
        c.correlationId ?? null,
        c.messageId ?? null,
        c.to ?? null,
        c.replyTo ?? null,
        c.subject ?? null,
        c.sessionId ?? null,
        c.replyToSessionId ?? null,
        c.contentType ?? null,
        types.wrap_map(c.applicationProperties ?? {}),
      ]);
      break;
    }
  }
  return {
    'rule-description': described(DESCRIPTOR.ruleDescription, [
      filter,
      described(DESCRIPTOR.emptyRuleAction, []),
      rule.name,
      createdAt,
    ]),
  };
}
