import type { Logger } from 'pino';

/**
 * SIGTERM/SIGINT: stop taking work, let in-flight work finish (bounded by the deadline), close, exit 0.
 * A second signal exits at once.
 */
export function onShutdownSignal(logger: Logger, deadlineMs: number, shutdown: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      logger.error({ deadlineMs }, 'shutdown deadline passed; exiting');
      process.exit(1);
    }, deadlineMs + 5_000);
    timer.unref();
    shutdown().then(
      () => {
        logger.info('stopped');
        logger.flush?.();
        process.exit(0);
      },
      (e: unknown) => {
        logger.error({ err: e instanceof Error ? e.name : 'error' }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}
