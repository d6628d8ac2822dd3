import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Logs are JSON lines on stderr; tests that check them capture them with setLogSink.
    env: { FLOWCAST_LOG: 'error' },
  },
});
