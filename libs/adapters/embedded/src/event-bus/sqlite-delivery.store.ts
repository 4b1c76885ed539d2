import { randomUUID } from 'node:crypto';
import { immediate, SqliteDatabase } from '../sqlite';

/**
 * One topic: every message is stored once (`bus_messages`) and gets one delivery row per subscription whose
 * type list contains its type (`bus_deliveries`). A delivery is available when it is active and
 * `available_at <= now`; claiming it sets `available_at` to the end of the lock, so an expired lock makes it
 * available again without any sweeper, and one index answers "what can I take now".
 */
const SCHEMA = `
CREATE TABLE IF NOT EXISTS bus_subscriptions (
  name TEXT PRIMARY KEY,
  registered_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS bus_subscription_types (
  type TEXT NOT NULL,
  subscription TEXT NOT NULL REFERENCES bus_subscriptions(name),
  PRIMARY KEY (type, subscription)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bus_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id TEXT NOT NULL,
  type TEXT NOT NULL,
  body TEXT NOT NULL,
  published_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS bus_messages_by_message_id ON bus_messages (message_id);
CREATE TABLE IF NOT EXISTS bus_deliveries (
  seq INTEGER NOT NULL REFERENCES bus_messages(seq),
  subscription TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('active', 'dead-lettered')),
  available_at INTEGER NOT NULL,
  lock_token TEXT,
  locked_until INTEGER,
  delivery_count INTEGER NOT NULL DEFAULT 0,
  last_reason TEXT,
  dead_letter_reason TEXT,
  dead_letter_description TEXT,
  dead_lettered_at INTEGER,
  PRIMARY KEY (seq, subscription)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS bus_deliveries_available
  ON bus_deliveries (subscription, state, available_at, seq);
`;

export const MAX_DELIVERY_COUNT_EXCEEDED = 'MaxDeliveryCountExceeded';
/** Description of a dead letter whose last delivery ended without a settlement (its consumer died). */
export const LOCK_EXPIRED = 'LockExpired';

export interface OutgoingMessage {
  messageId: string;
  /** Routes the message: subscriptions whose type list contains it get a delivery. */
  type: string;
  body: string;
}

export interface ClaimedDelivery {
  seq: number;
  messageId: string;
  body: string;
  /** Including this delivery: 1 on the first. */
  deliveryCount: number;
  lockToken: string;
  lockedUntil: number;
}

export interface DeliveryRef {
  seq: number;
  lockToken: string;
}

export type Settlement =
  | ({ kind: 'complete' } & DeliveryRef)
  | ({ kind: 'abandon'; reason: string; availableAt: number } & DeliveryRef)
  | ({ kind: 'dead-letter'; reason: string; description?: string } & DeliveryRef);

export interface DeliveryStats {
  subscription: string;
  active: number;
  deadLettered: number;
}

export interface DeadLetterRow {
  messageId: string;
  subscription: string;
  deliveryCount: number;
  reason: string;
  description: string | null;
  deadLetteredAt: number;
  body: string;
}

interface ClaimCandidate {
  seq: number;
  deliveryCount: number;
  lastReason: string | null;
  messageId: string;
  body: string;
}

/**
 * The SQL of the bus, synchronous and transaction-per-call. Every change to a claimed delivery is conditional
 * on its lock token, so a consumer whose lock expired and was taken over cannot settle someone else's delivery.
 */
export class SqliteDeliveryStore {
  private readonly stmt;
  private readonly syncNormal;
  private readonly syncFull;

  constructor(
    private readonly db: SqliteDatabase,
    private readonly maxDeliveryCount: number,
  ) {
    db.exec(SCHEMA);
    this.syncNormal = db.prepare('PRAGMA synchronous = NORMAL');
    this.syncFull = db.prepare('PRAGMA synchronous = FULL');
    this.stmt = {
      registerSubscription: db.prepare(
        'INSERT INTO bus_subscriptions (name, registered_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING',
      ),
      clearTypes: db.prepare('DELETE FROM bus_subscription_types WHERE subscription = ?'),
      addType: db.prepare('INSERT INTO bus_subscription_types (type, subscription) VALUES (?, ?)'),
      typesOf: db
        .prepare('SELECT type FROM bus_subscription_types WHERE subscription = ? ORDER BY type')
        .pluck(),
      subscriptionExists: db.prepare('SELECT 1 FROM bus_subscriptions WHERE name = ?').pluck(),
      insertMessage: db.prepare(
        'INSERT INTO bus_messages (message_id, type, body, published_at) VALUES (?, ?, ?, ?)',
      ),
      insertDeliveries: db.prepare(
        `INSERT INTO bus_deliveries (seq, subscription, state, available_at)
         SELECT ?, subscription, 'active', ? FROM bus_subscription_types WHERE type = ?`,
      ),
      deleteMessage: db.prepare('DELETE FROM bus_messages WHERE seq = ?'),
      collectMessage: db.prepare(
        'DELETE FROM bus_messages WHERE seq = ? AND NOT EXISTS (SELECT 1 FROM bus_deliveries WHERE seq = ?)',
      ),
      nextAvailableAt: db
        .prepare(
          `SELECT available_at FROM bus_deliveries WHERE subscription = ? AND state = 'active'
           ORDER BY available_at LIMIT 1`,
        )
        .pluck(),
      // CROSS JOIN keeps the planner on the delivery index (FACTS.md: a plain JOIN may start elsewhere).
      candidates: db.prepare(
        `SELECT d.seq AS seq, d.delivery_count AS deliveryCount, d.last_reason AS lastReason,
                m.message_id AS messageId, m.body AS body
         FROM bus_deliveries d CROSS JOIN bus_messages m ON m.seq = d.seq
         WHERE d.subscription = ? AND d.state = 'active' AND d.available_at <= ?
         ORDER BY d.available_at, d.seq LIMIT ?`,
      ),
      lock: db.prepare(
        `UPDATE bus_deliveries
         SET lock_token = ?, locked_until = ?, available_at = ?, delivery_count = delivery_count + 1
         WHERE seq = ? AND subscription = ?`,
      ),
      renew: db.prepare(
        `UPDATE bus_deliveries SET locked_until = ?, available_at = ?
         WHERE seq = ? AND subscription = ? AND lock_token = ? AND state = 'active'`,
      ),
      complete: db.prepare(
        `DELETE FROM bus_deliveries WHERE seq = ? AND subscription = ? AND lock_token = ? AND state = 'active'`,
      ),
      abandon: db.prepare(
        `UPDATE bus_deliveries SET lock_token = NULL, locked_until = NULL, available_at = ?, last_reason = ?
         WHERE seq = ? AND subscription = ? AND lock_token = ? AND state = 'active'`,
      ),
      release: db.prepare(
        `UPDATE bus_deliveries SET lock_token = NULL, locked_until = NULL, available_at = ?,
           delivery_count = MAX(0, delivery_count - ?)
         WHERE seq = ? AND subscription = ? AND lock_token = ? AND state = 'active'`,
      ),
      // Dead letters are ordered by `available_at` too (set to the dead-letter time), so listing them uses the index.
      deadLetter: db.prepare(
        `UPDATE bus_deliveries SET state = 'dead-lettered', lock_token = NULL, locked_until = NULL,
           available_at = ?, dead_letter_reason = ?, dead_letter_description = ?, dead_lettered_at = ?
         WHERE seq = ? AND subscription = ? AND lock_token = ? AND state = 'active'`,
      ),
      // Inside the claim transaction, for a delivery whose lock expired: any old token is void by then.
      deadLetterUnlocked: db.prepare(
        `UPDATE bus_deliveries SET state = 'dead-lettered', lock_token = NULL, locked_until = NULL,
           available_at = ?, dead_letter_reason = ?, dead_letter_description = ?, dead_lettered_at = ?
         WHERE seq = ? AND subscription = ? AND state = 'active'`,
      ),
      stats: db.prepare(
        `SELECT s.name AS subscription,
           (SELECT COUNT(*) FROM bus_deliveries d WHERE d.subscription = s.name AND d.state = 'active') AS active,
           (SELECT COUNT(*) FROM bus_deliveries d
             WHERE d.subscription = s.name AND d.state = 'dead-lettered') AS deadLettered
         FROM bus_subscriptions s ORDER BY s.name`,
      ),
      subscriptionNames: db.prepare('SELECT name FROM bus_subscriptions ORDER BY name').pluck(),
      // Walks the delivery index for one subscription and stops at the limit (-1: none).
      activeUpTo: db
        .prepare(
          `SELECT COUNT(*) FROM (SELECT 1 FROM bus_deliveries
             WHERE subscription = ? AND state = 'active' LIMIT ?)`,
        )
        .pluck(),
      deadLetters: db.prepare(
        `SELECT m.message_id AS messageId, d.subscription AS subscription, d.delivery_count AS deliveryCount,
                d.dead_letter_reason AS reason, d.dead_letter_description AS description,
                d.dead_lettered_at AS deadLetteredAt, m.body AS body
         FROM bus_deliveries d CROSS JOIN bus_messages m ON m.seq = d.seq
         WHERE d.subscription = ? AND d.state = 'dead-lettered'
         ORDER BY d.available_at, d.seq LIMIT ?`,
      ),
      redriveAll: db.prepare(
        `UPDATE bus_deliveries SET state = 'active', available_at = ?, delivery_count = 0, last_reason = NULL,
           dead_letter_reason = NULL, dead_letter_description = NULL, dead_lettered_at = NULL
         WHERE subscription = ? AND state = 'dead-lettered'`,
      ),
      redriveSome: db.prepare(
        `UPDATE bus_deliveries SET state = 'active', available_at = ?, delivery_count = 0, last_reason = NULL,
           dead_letter_reason = NULL, dead_letter_description = NULL, dead_lettered_at = NULL
         WHERE subscription = ? AND state = 'dead-lettered'
           AND seq IN (SELECT seq FROM bus_messages WHERE message_id IN (SELECT value FROM json_each(?)))`,
      ),
      purge: db
        .prepare(
          `DELETE FROM bus_deliveries WHERE subscription = ? AND state = 'dead-lettered' RETURNING seq`,
        )
        .pluck(),
    };
  }

  /** Creates the subscriptions or replaces their type lists; other subscriptions in the file are kept. */
  registerSubscriptions(subscriptions: Record<string, readonly string[]>, now: number): void {
    immediate(this.db, () => {
      for (const [name, types] of Object.entries(subscriptions)) {
        this.stmt.registerSubscription.run(name, now);
        this.stmt.clearTypes.run(name);
        for (const type of new Set(types)) this.stmt.addType.run(type, name);
      }
    });
  }

  /** The registered type list, or undefined for a subscription nobody registered. */
  subscriptionTypes(name: string): string[] | undefined {
    if (this.stmt.subscriptionExists.get(name) === undefined) return undefined;
    return this.stmt.typesOf.all(name) as string[];
  }

  /**
   * Appends messages with their deliveries in one transaction, committed without an fsync: the caller makes it
   * durable (WalSync) before it reports the publish. Returns the number of deliveries created.
   */
  append(messages: readonly OutgoingMessage[], now: number): number {
    return this.withoutFsync(() => {
      let deliveries = 0;
      for (const message of messages) {
        const seq = this.stmt.insertMessage.run(
          message.messageId,
          message.type,
          message.body,
          now,
        ).lastInsertRowid;
        const created = this.stmt.insertDeliveries.run(seq, now, message.type).changes;
        // Nobody subscribes to this type: keep no orphan body.
        if (created === 0) this.stmt.deleteMessage.run(seq);
        deliveries += created;
      }
      return deliveries;
    });
  }

  /** When the next delivery becomes available (past or future); a read, so idle polling takes no write lock. */
  nextAvailableAt(subscription: string): number | undefined {
    return this.stmt.nextAvailableAt.get(subscription) as number | undefined;
  }

  /**
   * Locks up to `limit` available deliveries. One whose previous delivery already reached the maximum (its
   * consumer died holding it) is dead-lettered here instead of being delivered once more.
   */
  claim(subscription: string, limit: number, now: number, lockDurationMs: number): ClaimedDelivery[] {
    return this.withoutFsync(() => {
      const candidates = this.stmt.candidates.all(subscription, now, limit) as ClaimCandidate[];
      const claimed: ClaimedDelivery[] = [];
      const lockedUntil = now + lockDurationMs;
      for (const c of candidates) {
        if (c.deliveryCount >= this.maxDeliveryCount) {
          this.stmt.deadLetterUnlocked.run(
            now,
            MAX_DELIVERY_COUNT_EXCEEDED,
            LOCK_EXPIRED,
            now,
            c.seq,
            subscription,
          );
          continue;
        }
        const lockToken = randomUUID();
        this.stmt.lock.run(lockToken, lockedUntil, lockedUntil, c.seq, subscription);
        claimed.push({
          seq: c.seq,
          messageId: c.messageId,
          body: c.body,
          deliveryCount: c.deliveryCount + 1,
          lockToken,
          lockedUntil,
        });
      }
      return claimed;
    });
  }

  /** Extends locks; the result says, per delivery, whether the lock was still ours. */
  renew(subscription: string, deliveries: readonly DeliveryRef[], lockedUntil: number): boolean[] {
    return this.withoutFsync(() =>
      deliveries.map(
        (d) => this.stmt.renew.run(lockedUntil, lockedUntil, d.seq, subscription, d.lockToken).changes > 0,
      ),
    );
  }

  /** Applies settlements in one transaction; the result says, per settlement, whether the lock was still ours. */
  settle(subscription: string, settlements: readonly Settlement[], now: number): boolean[] {
    return this.withoutFsync(() => settlements.map((s) => this.settleOne(subscription, s, now)));
  }

  /**
   * Gives deliveries back without waiting for their lock to expire. `uncount` undoes the delivery count of
   * messages that were claimed but never handed to a handler.
   */
  release(
    subscription: string,
    deliveries: readonly DeliveryRef[],
    now: number,
    uncount: boolean,
  ): boolean[] {
    return this.withoutFsync(() =>
      deliveries.map(
        (d) => this.stmt.release.run(now, uncount ? 1 : 0, d.seq, subscription, d.lockToken).changes > 0,
      ),
    );
  }

  stats(): DeliveryStats[] {
    return this.stmt.stats.all() as DeliveryStats[];
  }

  /** Active deliveries of the busiest subscription, counted up to `atMost` each (all when undefined). */
  backlog(atMost?: number): number {
    const limit = atMost === undefined ? -1 : Math.max(0, Math.floor(atMost));
    let busiest = 0;
    for (const name of this.stmt.subscriptionNames.all() as string[]) {
      busiest = Math.max(busiest, this.stmt.activeUpTo.get(name, limit) as number);
      if (limit >= 0 && busiest >= limit) break;
    }
    return busiest;
  }

  listDeadLetters(subscription: string, limit: number): DeadLetterRow[] {
    return this.stmt.deadLetters.all(subscription, limit) as DeadLetterRow[];
  }

  /** Moves dead letters back to the subscription with a fresh delivery count; returns how many. */
  redrive(subscription: string, messageIds: readonly string[] | undefined, now: number): number {
    return immediate(this.db, () =>
      messageIds === undefined
        ? this.stmt.redriveAll.run(now, subscription).changes
        : this.stmt.redriveSome.run(now, subscription, JSON.stringify(messageIds)).changes,
    );
  }

  /** Deletes the dead letters of a subscription; returns how many. */
  purgeDeadLetters(subscription: string): number {
    return immediate(this.db, () => {
      const seqs = this.stmt.purge.all(subscription) as number[];
      for (const seq of seqs) this.stmt.collectMessage.run(seq, seq);
      return seqs.length;
    });
  }

  /**
   * Consumer-side changes (claim, renew, settle, release) commit without an fsync: the connection is otherwise
   * `synchronous = FULL`, and a later sync of the WAL (a publish's) covers them too. Publishes (append) commit
   * the same way and are made durable by the bus (WalSync) before they are reported. A power loss can only undo
   * recent consumer changes, which at-least-once delivery already allows for (a completion lost = one
   * redelivery; a claim lost = a lock that never happened). Halves the fsyncs of a busy consumer on disks where
   * each one costs milliseconds.
   */
  private withoutFsync<T>(fn: () => T): T {
    this.syncNormal.run();
    try {
      return immediate(this.db, fn);
    } finally {
      this.syncFull.run();
    }
  }

  private settleOne(subscription: string, s: Settlement, now: number): boolean {
    switch (s.kind) {
      case 'complete': {
        const removed = this.stmt.complete.run(s.seq, subscription, s.lockToken).changes > 0;
        if (removed) this.stmt.collectMessage.run(s.seq, s.seq);
        return removed;
      }
      case 'abandon':
        return this.stmt.abandon.run(s.availableAt, s.reason, s.seq, subscription, s.lockToken).changes > 0;
      case 'dead-letter':
        return (
          this.stmt.deadLetter.run(
            now,
            s.reason,
            s.description ?? null,
            now,
            s.seq,
            subscription,
            s.lockToken,
          ).changes > 0
        );
    }
  }
}
