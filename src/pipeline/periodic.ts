/**
 * A task every worker process runs on a timer (the broadcast sweep, the
 * retention sweep): once at start, then every `intervalMs`; never two runs
 * at once in one process; a failed run is logged and tried again next time.
 * Returns the function that stops it.
 */
import type { Logger } from 'pino';

export function startPeriodic(what: string, intervalMs: number, run: () => Promise<void>, logger: Logger): () => void {
  let running = false;
  const tick = async (): Promise<void> => {
    if (running) return;
    running = true;
    try {
      await run();
    } catch (error) {
      logger.warn({ err: error instanceof Error ? error.message : error }, `${what} failed; will try again`);
    } finally {
      running = false;
    }
  };
  void tick();
  const timer = setInterval(() => void tick(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
