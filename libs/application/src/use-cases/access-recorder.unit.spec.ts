import { describe, expect, it } from 'vitest';
import type { TwinEvent } from '@twinstore/contracts';
import { EventPublisher } from '../ports';
import { AccessRecorder } from './access-recorder';

/** A publisher whose publishes stay pending until the test settles them. */
class HeldPublisher implements EventPublisher {
  readonly calls: { leadIds: string[]; settle: (error?: Error) => void }[] = [];
  publish(events: TwinEvent[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.calls.push({
        leadIds: events.map((e) => (e.data as { leadId: string }).leadId),
        settle: (error) => (error ? reject(error) : resolve()),
      });
    });
  }
  async close(): Promise<void> {}
}

const clock = { now: () => new Date(Date.UTC(2026, 0, 1)) };
const ticks = () => new Promise((resolve) => setImmediate(resolve));

describe('AccessRecorder', () => {
  it('with no flush window, publishes once flushAt twins are pending instead of waiting for flush()', async () => {
    const publisher = new HeldPublisher();
    const recorder = new AccessRecorder(publisher, clock, 0, { flushAt: 3 });
    recorder.record('a');
    recorder.record('b');
    recorder.record('a'); // coalesced
    expect(publisher.calls).toHaveLength(0);
    recorder.record('c');
    expect(publisher.calls.map((c) => c.leadIds)).toEqual([['a', 'b', 'c']]);
    publisher.calls[0].settle();
    await ticks();
    expect(recorder.dropped).toBe(0);
  });

  it('drops reads of new twins past maxPending while a flush is in flight, then catches up', async () => {
    const publisher = new HeldPublisher();
    const recorder = new AccessRecorder(publisher, clock, 0, { flushAt: 2, maxPending: 4 });
    recorder.record('a');
    recorder.record('b'); // starts a flush that the bus holds
    for (const id of ['c', 'd', 'e', 'f']) recorder.record(id);
    expect(publisher.calls).toHaveLength(1); // one background flush at a time
    recorder.record('g');
    recorder.record('h');
    recorder.record('c'); // already pending: coalesced, not dropped
    expect(recorder.dropped).toBe(2);

    publisher.calls[0].settle();
    await ticks();
    expect(publisher.calls.map((c) => c.leadIds)).toEqual([
      ['a', 'b'],
      ['c', 'd', 'e', 'f'],
    ]);
    publisher.calls[1].settle();
    await ticks();
    recorder.record('g');
    expect(recorder.dropped).toBe(2);
    const flushed = recorder.flush();
    publisher.calls[2].settle();
    expect(await flushed).toBe(1);
    expect(publisher.calls[2].leadIds).toEqual(['g']);
  });

  it('a failed background flush loses its batch but not the recorder', async () => {
    const publisher = new HeldPublisher();
    const recorder = new AccessRecorder(publisher, clock, 0, { flushAt: 1 });
    recorder.record('a');
    publisher.calls[0].settle(new Error('bus down'));
    await ticks();
    recorder.record('b');
    expect(publisher.calls.map((c) => c.leadIds)).toEqual([['a'], ['b']]);
    publisher.calls[1].settle();
    await ticks();
    const flushed = recorder.flush();
    expect(await flushed).toBe(0);
  });

  it('explicit flush waits for the flush in flight, then publishes the rest', async () => {
    const publisher = new HeldPublisher();
    const recorder = new AccessRecorder(publisher, clock, 0, { flushAt: 2 });
    recorder.record('a');
    recorder.record('b');
    recorder.record('c');
    const flushed = recorder.flush();
    await ticks();
    expect(publisher.calls).toHaveLength(1);
    publisher.calls[0].settle();
    await ticks();
    expect(publisher.calls[1].leadIds).toEqual(['c']);
    publisher.calls[1].settle();
    expect(await flushed).toBe(1);
  });
});
