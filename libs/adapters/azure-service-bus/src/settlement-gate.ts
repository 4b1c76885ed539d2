/**
 * Serialises settlements that rhea could merge wrongly. rhea 3.0.5 (under @azure/service-bus 7.9) writes the
 * dispositions of consecutive deliveries settled in the same turn as one frame carrying the first outcome,
 * without comparing outcomes while the run holds a single delivery: complete one message and dead-letter the
 * next, and the dead letter becomes a completion (or the other way round). Completions are safe together, so
 * they share the gate; any other outcome holds it alone until the broker has answered.
 */
export class SettlementGate {
  private shared = 0;
  private exclusive = false;
  private readonly waiting: Array<{ exclusive: boolean; grant: () => void }> = [];

  async run<T>(exclusive: boolean, settle: () => Promise<T>): Promise<T> {
    await this.acquire(exclusive);
    try {
      return await settle();
    } finally {
      if (exclusive) this.exclusive = false;
      else this.shared--;
      this.grantWaiting();
    }
  }

  private acquire(exclusive: boolean): Promise<void> {
    if (this.waiting.length === 0 && this.canGrant(exclusive)) {
      this.take(exclusive);
      return Promise.resolve();
    }
    return new Promise((grant) => this.waiting.push({ exclusive, grant }));
  }

  private canGrant(exclusive: boolean): boolean {
    return exclusive ? !this.exclusive && this.shared === 0 : !this.exclusive;
  }

  private take(exclusive: boolean): void {
    if (exclusive) this.exclusive = true;
    else this.shared++;
  }

  /** First come, first served: a waiting exclusive settlement is not overtaken by later completions. */
  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.canGrant(this.waiting[0].exclusive)) {
      const next = this.waiting.shift()!;
      this.take(next.exclusive);
      next.grant();
    }
  }
}
