import { createEvent } from '@twinstore/contracts';
import { Clock, EventPublisher } from '../ports';

export interface AccessRecorderLimits {
  /** Pending twins that start a flush at once, without waiting for the timer (default 1000). */
  flushAt?: number;
  /**
   * Pending twins past which reads of twins not yet pending are dropped (counted in `dropped`) while a flush
   * is in flight (default 10 x `flushAt`): with a slow or failing bus, memory stays bounded instead of
   * growing with every read.
   */
  maxPending?: number;
}

/**
 * Reads feed tiering through `twin.accessed.v1`, coalesced: one event per twin per flush window, published in
 * batches, so a hot twin read a thousand times costs one message, not a thousand. A flush starts when the
 * window ends or when `flushAt` twins are pending, whichever comes first (with a window of 0, only the
 * size and explicit `flush()` calls start one); one background flush runs at a time.
 */
export class AccessRecorder {
  private pending = new Map<string, Date>();
  private timer?: NodeJS.Timeout;
  private inFlight?: Promise<void>;
  private droppedReads = 0;
  private readonly flushAt: number;
  private readonly maxPending: number;

  constructor(
    private readonly publisher: EventPublisher,
    private readonly clock: Clock,
    private readonly flushIntervalMs = 5_000,
    limits: AccessRecorderLimits = {},
  ) {
    this.flushAt = Math.max(1, limits.flushAt ?? 1000);
    this.maxPending = Math.max(this.flushAt, limits.maxPending ?? 10 * this.flushAt);
  }

  /** Reads not recorded because `maxPending` twins were already waiting (tiering sees them at the next read). */
  get dropped(): number {
    return this.droppedReads;
  }

  record(leadId: string): void {
    if (this.pending.has(leadId)) return;
    if (this.pending.size >= this.maxPending) {
      this.droppedReads++;
      return;
    }
    this.pending.set(leadId, this.clock.now());
    if (this.pending.size >= this.flushAt) this.flushInBackground();
    else this.arm();
  }

  /** Publishes everything pending now (after any background flush in flight); the number of events sent. */
  async flush(): Promise<number> {
    this.disarm();
    if (this.inFlight) await this.inFlight;
    return this.publishPending();
  }

  private arm(): void {
    if (this.timer || this.flushIntervalMs <= 0 || this.pending.size === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushInBackground();
    }, this.flushIntervalMs);
    this.timer.unref();
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flushInBackground(): void {
    if (this.inFlight) return; // it looks at the pending twins again when it ends
    this.disarm();
    this.inFlight = this.publishPending()
      .then(
        () => undefined,
        // access events are a tiering hint: a lost batch delays a promotion, it breaks nothing
        () => undefined,
      )
      .finally(() => {
        this.inFlight = undefined;
        if (this.pending.size >= this.flushAt) this.flushInBackground();
        else this.arm();
      });
  }

  private async publishPending(): Promise<number> {
    const batch = this.pending;
    this.pending = new Map();
    if (batch.size === 0) return 0;
    const events = [...batch].map(([leadId, at]) =>
      createEvent('twin.accessed.v1', { leadId, accessedAt: at.toISOString() }, { time: at }),
    );
    await this.publisher.publish(events);
    return events.length;
  }
}
