/**
 * Work that would hold the event loop longer than any request may (contract
 * §3: 100 ms) is done in turns: timers, I/O and other requests run in
 * between.
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Lets the event loop turn before going on: timers, I/O and other requests
 * run first. A timer, not an immediate: an immediate queued by work done in
 * an I/O callback runs in the same loop iteration, right after it, so the
 * two blocks would hold the loop as one.
 */
export const nextTurn = (): Promise<void> => sleep(0);

/**
 * Longest stretch step-wise work runs before the event loop may turn: well
 * inside contract §3's 100 ms, leaving room for the single blocks that
 * cannot be split (JSON.parse of one audience).
 */
export const TURN_BUDGET_MS = 5;

/** Runs step-wise work, letting the event loop turn every {@link TURN_BUDGET_MS} or so. */
export async function inTurns<T>(steps: Generator<void, T, void>): Promise<T> {
  let since = performance.now();
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
    if (performance.now() - since >= TURN_BUDGET_MS) {
      await nextTurn();
      since = performance.now();
    }
  }
}
