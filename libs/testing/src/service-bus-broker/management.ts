import type { Typed } from 'rhea';
import { types } from 'rhea';
import {
  AmqpMessage,
  decodeMessage,
  encodeMessage,
  lockKeyOf,
  MESSAGE_STATE,
  outgoingMessage,
  scheduledTimeOf,
  sequenceNumberOf,
} from './amqp-message';
import { MessageQueue, QueuedMessage, ReceiveMode } from './message-queue';
import { ruleFromRequest, encodeRule, UnsupportedRuleError } from './subscription-rules';
import { Subscription, Topic } from './topic';

/** What a `$management` link is attached to. */
export type ManagedEntity =
  | { kind: 'topic'; topic: Topic }
  | { kind: 'queue'; topic: Topic; subscription: Subscription; queue: MessageQueue };

export interface ManagementResponse {
  statusCode: number;
  statusDescription: string;
  errorCondition?: string;
  body?: unknown;
}

const OK = (body?: unknown): ManagementResponse => ({ statusCode: 200, statusDescription: 'OK', body });
const NO_CONTENT: ManagementResponse = { statusCode: 204, statusDescription: 'No Content' };
const fail = (statusCode: number, errorCondition: string, statusDescription: string): ManagementResponse => ({
  statusCode,
  errorCondition,
  statusDescription,
});
const LOCK_LOST = fail(
  410,
  'com.microsoft:message-lock-lost',
  'The lock supplied is invalid. Either the lock expired, or the message has already been removed from the queue.',
);

/** Answers the `com.microsoft:*` operations the SDK sends for topics and subscriptions. */
export function handleManagementRequest(
  entity: ManagedEntity,
  operation: string,
  rawBody: unknown,
  now: number,
): ManagementResponse {
  const body = (rawBody && typeof rawBody === 'object' ? rawBody : {}) as Record<string, unknown>;
  try {
    switch (operation) {
      case 'com.microsoft:peek-message':
        return inQueue(entity, (queue) => peek(queue, body));
      case 'com.microsoft:renew-lock':
        return inQueue(entity, (queue) => renewLocks(queue, body, now));
      case 'com.microsoft:update-disposition':
        return inQueue(entity, (queue) => updateDisposition(queue, body));
      case 'com.microsoft:receive-by-sequence-number':
        return inQueue(entity, (queue) => receiveDeferred(queue, body, now));
      case 'com.microsoft:schedule-message':
        return inTopic(entity, (topic) => schedule(topic, body, now));
      case 'com.microsoft:cancel-scheduled-message':
        return inTopic(entity, (topic) => {
          for (const seq of list(body['sequence-numbers'])) {
            const n = sequenceNumberOf(seq);
            if (n !== undefined) topic.cancelScheduled(n);
          }
          return OK();
        });
      case 'com.microsoft:enumerate-rules':
        return inSubscription(entity, (subscription) => enumerateRules(subscription, body));
      case 'com.microsoft:add-rule':
        return inSubscription(entity, (subscription) => addRule(subscription, body));
      case 'com.microsoft:remove-rule':
        return inSubscription(entity, (subscription) => {
          const name = String(body['rule-name'] ?? '');
          if (!subscription.rules.delete(name)) {
            return fail(404, 'amqp:not-found', `The rule '${name}' could not be found.`);
          }
          return OK();
        });
      default:
        return fail(501, 'amqp:not-implemented', `The test broker does not implement ${operation}.`);
    }
  } catch (error) {
    if (error instanceof UnsupportedRuleError) return fail(501, 'amqp:not-implemented', error.message);
    return fail(500, 'amqp:internal-error', error instanceof Error ? error.name : 'InternalError');
  }
}

function inQueue(
  entity: ManagedEntity,
  run: (queue: MessageQueue) => ManagementResponse,
): ManagementResponse {
  if (entity.kind !== 'queue') return fail(400, 'amqp:not-allowed', 'The operation needs a subscription.');
  return run(entity.queue);
}

function inTopic(entity: ManagedEntity, run: (topic: Topic) => ManagementResponse): ManagementResponse {
  if (entity.kind !== 'topic') return fail(400, 'amqp:not-allowed', 'The operation needs a topic.');
  return run(entity.topic);
}

function inSubscription(
  entity: ManagedEntity,
  run: (subscription: Subscription) => ManagementResponse,
): ManagementResponse {
  if (entity.kind !== 'queue' || entity.queue !== entity.subscription.main) {
    return fail(400, 'amqp:not-allowed', 'The operation needs a subscription.');
  }
  return run(entity.subscription);
}

function peek(queue: MessageQueue, body: Record<string, unknown>): ManagementResponse {
  const from = sequenceNumberOf(body['from-sequence-number']) ?? 1;
  const count = Number(body['message-count'] ?? 1);
  const found = queue.peek(from, Math.max(1, count));
  if (found.length === 0) return NO_CONTENT;
  return OK({
    messages: found.map((m) => ({
      message: encodeMessage(
        outgoingMessage(m, { state: m.state === 'deferred' ? MESSAGE_STATE.deferred : MESSAGE_STATE.active }),
      ),
    })),
  });
}

function renewLocks(queue: MessageQueue, body: Record<string, unknown>, now: number): ManagementResponse {
  const expirations: Date[] = [];
  for (const token of list(body['lock-tokens'])) {
    const key = lockKeyOf(token);
    const until = key === undefined ? undefined : queue.renew(key, now);
    if (until === undefined) return LOCK_LOST;
    expirations.push(new Date(until));
  }
  return OK({ expirations });
}

function updateDisposition(queue: MessageQueue, body: Record<string, unknown>): ManagementResponse {
  const status = String(body['disposition-status'] ?? '');
  const properties = plainMap(body['properties-to-modify']);
  for (const token of list(body['lock-tokens'])) {
    const key = lockKeyOf(token);
    if (key === undefined) return LOCK_LOST;
    let settled: boolean;
    switch (status) {
      case 'completed':
        settled = queue.complete(key);
        break;
      case 'abandoned':
        settled = queue.abandon(key, properties);
        break;
      case 'defered':
        settled = queue.defer(key, properties);
        break;
      case 'suspended':
        if (queue.isDeadLetterQueue && queue.holder(key)) {
          return fail(400, 'amqp:not-allowed', 'A dead-lettered message cannot be dead-lettered again.');
        }
        settled = queue.deadLetter(key, {
          reason: optionalText(body['deadletter-reason']),
          description: optionalText(body['deadletter-description']),
          properties,
        });
        break;
      default:
        return fail(400, 'amqp:invalid-field', `Unknown disposition status '${status}'.`);
    }
    if (!settled) return LOCK_LOST;
  }
  return OK();
}

function receiveDeferred(
  queue: MessageQueue,
  body: Record<string, unknown>,
  now: number,
): ManagementResponse {
  const seqs = list(body['sequence-numbers'])
    .map(sequenceNumberOf)
    .filter((n): n is number => n !== undefined);
  const mode: ReceiveMode = Number(body['receiver-settle-mode'] ?? 1) === 0 ? 'receiveAndDelete' : 'peekLock';
  const taken = queue.takeDeferred(seqs, mode, now);
  if (taken.length === 0) {
    return fail(
      404,
      'com.microsoft:message-not-found',
      'No deferred message has the given sequence numbers.',
    );
  }
  return OK({
    messages: taken.map((m: QueuedMessage) => ({
      ...(m.lock ? { 'lock-token': types.wrap_uuid(Buffer.from(m.lock.key, 'hex')) } : {}),
      message: encodeMessage(
        outgoingMessage(m, { lockedUntil: m.lock?.until, state: MESSAGE_STATE.deferred }),
      ),
    })),
  });
}

function schedule(topic: Topic, body: Record<string, unknown>, now: number): ManagementResponse {
  const seqs: number[] = [];
  for (const entry of list(body.messages)) {
    const bytes = plainMap(entry)?.message;
    if (!Buffer.isBuffer(bytes)) return fail(400, 'amqp:decode-error', 'A scheduled entry has no message.');
    const message: AmqpMessage = decodeMessage(bytes);
    seqs.push(topic.schedule(message, scheduledTimeOf(message) ?? now, now));
  }
  return OK({ 'sequence-numbers': types.wrap_array(seqs, 0x81, undefined) });
}

function enumerateRules(subscription: Subscription, body: Record<string, unknown>): ManagementResponse {
  const skip = Number(body.skip ?? 0);
  const top = Number(body.top ?? Number.MAX_SAFE_INTEGER);
  const rules = [...subscription.rules.values()].slice(skip, skip + top);
  if (rules.length === 0) return NO_CONTENT;
  return OK({ rules: rules.map(({ rule, createdAt }) => encodeRule(rule, createdAt)) });
}

function addRule(subscription: Subscription, body: Record<string, unknown>): ManagementResponse {
  const name = String(body['rule-name'] ?? '');
  if (!name) return fail(400, 'amqp:invalid-field', 'A rule needs a name.');
  if (subscription.rules.has(name)) {
    return fail(409, 'com.microsoft:entity-already-exists', `The rule '${name}' already exists.`);
  }
  const rule = ruleFromRequest(name, plainMap(body['rule-description']));
  subscription.rules.set(name, { rule, createdAt: new Date() });
  return OK();
}

function list(value: unknown): unknown[] {
  if (Array.isArray(value)) return value;
  return value === undefined || value === null ? [] : [value];
}

function optionalText(value: unknown): string | undefined {
  return value === undefined || value === null ? undefined : String(value);
}

/** A map from a request body: rhea hands out plain objects, or typed maps when nested in described values. */
export function plainMap(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined || value === null) return undefined;
  if (isTyped(value) && types.is_map(value)) return types.unwrap_map_simple(value) as Record<string, unknown>;
  if (typeof value === 'object' && !Buffer.isBuffer(value)) return value as Record<string, unknown>;
  return undefined;
}

/** rhea exports no Typed class at run time; typed values are recognised by their shape. */
function isTyped(value: unknown): value is Typed {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { toRheaTyped?: unknown }).toRheaTyped === 'function'
  );
}
