/** Resolves on SIGINT or SIGTERM (or after `durationMs`), for commands that run until stopped. */
export function untilSignal(durationMs?: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      clearTimeout(timer);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    if (durationMs) timer = setTimeout(stop, durationMs);
  });
}
