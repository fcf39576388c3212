import type { Logger } from 'pino';

/**
 * Runs `tick` every `intervalMs`, never two at once (a slow tick makes the next ones skip), with
 * failures logged rather than thrown. The timer does not keep the process alive.
 */
export function createTicker<T>(
  tick: () => Promise<T>,
  { intervalMs, log, what }: { intervalMs: number; log: Logger; what: string },
) {
  let timer: NodeJS.Timeout | null = null;
  let running = false;

  async function runTick(): Promise<T | undefined> {
    if (running) return undefined;
    running = true;
    try {
      return await tick();
    } finally {
      running = false;
    }
  }

  return {
    tick: runTick,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        runTick().catch((err: unknown) => log.error({ err }, `${what} failed`));
      }, intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}
