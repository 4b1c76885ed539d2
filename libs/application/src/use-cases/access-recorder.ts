import { createEvent } from '@twinstore/contracts';
import { Clock, EventPublisher } from '../ports';

/**
 * Reads feed tiering through `twin.accessed.v1`, coalesced: one event per twin per flush window, published in
 * batches, so a hot twin read a thousand times costs one message, not a thousand.
 */
export class AccessRecorder {
  private pending = new Map<string, Date>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly publisher: EventPublisher,
    private readonly clock: Clock,
    private readonly flushIntervalMs = 5_000,
  ) {}

  record(leadId: string): void {
    if (!this.pending.has(leadId)) this.pending.set(leadId, this.clock.now());
    if (!this.timer && this.flushIntervalMs > 0) {
      this.timer = setTimeout(() => void this.flush().catch(() => undefined), this.flushIntervalMs);
      this.timer.unref();
    }
  }

  async flush(): Promise<number> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
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
