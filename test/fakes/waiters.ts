/**
 * What every fake offers its tests: wait until a condition over what it has
 * received holds, or fail after a timeout with the fake's own account of
 * what did arrive.
 */
interface Waiter {
  check: () => boolean;
  resolve: () => void;
}

export class Waiters {
  readonly #waiting = new Set<Waiter>();

  /** Call after every arrival: settles the waits whose condition now holds. */
  notify(): void {
    for (const waiter of [...this.#waiting]) {
      if (!waiter.check()) continue;
      this.#waiting.delete(waiter);
      waiter.resolve();
    }
  }

  /** Resolves once `check()` holds (at once if it does); rejects with `timedOut()` after `timeoutMs`. */
  until(check: () => boolean, timeoutMs: number, timedOut: () => Error): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        check,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#waiting.delete(waiter);
        reject(timedOut());
      }, timeoutMs);
      this.#waiting.add(waiter);
    });
  }

  /** Forgets every wait (a fake being closed); their timers still reject them. */
  clear(): void {
    this.#waiting.clear();
  }
}
