import { TwinEvent, TwinSavedV1 } from '@twinstore/contracts';
import { HandlerOutcome } from '../ports';

/** Blob reads and writes a handler keeps in flight at once for one batch. */
export const BATCH_IO_CONCURRENCY = 16;

/**
 * Projects a batch in delivery order: each run of consecutive `twin.saved.v1` goes to `saves` in one call,
 * every other event to `one`, alone. Saves of a run may be applied together because each projection is
 * version-guarded (their order does not matter); a deletion is not commutative with the saves around it
 * (a save before it must be erased, one after it kept), so it runs between them.
 */
export async function projectInOrder(
  events: readonly TwinEvent[],
  saves: (run: TwinSavedV1[]) => Promise<HandlerOutcome[]>,
  one: (event: TwinEvent) => Promise<HandlerOutcome>,
): Promise<HandlerOutcome[]> {
  const outcomes: HandlerOutcome[] = [];
  let run: TwinSavedV1[] = [];
  const flush = async () => {
    if (run.length === 0) return;
    const batch = run;
    run = [];
    outcomes.push(...(await saves(batch)));
  };
  for (const event of events) {
    if (event.type === 'twin.saved.v1') {
      run.push(event.data);
      continue;
    }
    await flush();
    outcomes.push(await one(event));
  }
  await flush();
  return outcomes;
}
