/**
 * Gathers items written one by one into batches written together: a batch goes out when it holds `maxItems`, or
 * `maxDelayMs` after its first item, whichever comes first. `add` resolves once its item's batch is written, and
 * rejects with that batch's error. For a write that follows every request under load (marking inbox events handed
 * over): one statement per batch instead of one per request. What waits when the process stops is not written, so it
 * suits only writes whose loss is harmless.
 */
export function batcher<T>(write: (items: T[]) => Promise<void>, options: { maxItems: number; maxDelayMs: number }): {
  add(item: T): Promise<void>;
} {
  let batch: Array<{ item: T; resolve: () => void; reject: (error: unknown) => void }> = [];
  let timer: NodeJS.Timeout | undefined;

  const send = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    const taken = batch;
    batch = [];
    write(taken.map((entry) => entry.item)).then(
      () => {
        for (const entry of taken) entry.resolve();
      },
      (error: unknown) => {
        for (const entry of taken) entry.reject(error);
      },
    );
  };

  return {
    add(item) {
      return new Promise<void>((resolve, reject) => {
        batch.push({ item, resolve, reject });
        if (batch.length >= options.maxItems) send();
        else if (timer === undefined) {
          timer = setTimeout(send, options.maxDelayMs);
          timer.unref();
        }
      });
    },
  };
}
