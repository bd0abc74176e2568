// Shared by every package: each package's `test` script runs `vitest run --config ../../vitest.config.ts`.
// The `qmpkit-source` export condition makes workspace packages resolve to each other's
// TypeScript sources, so tests never depend on a stale `dist/`.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: { conditions: ['qmpkit-source'] },
  ssr: { resolve: { conditions: ['qmpkit-source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // A safety net for a hung test, not a measure of speed: CPU-bound property and codegen tests
    // take several times longer on a loaded 2-core machine (two CI runs at once), and a deadline
    // they can miss only under load is a flake. Tests that wait keep their own condition deadlines.
    testTimeout: 180_000,
    hookTimeout: 180_000,
    // Fails the run if a test leaves a qmpkit-server or QEMU process running.
    globalSetup: [fileURLToPath(new URL('./vitest.leak-check.ts', import.meta.url))],
  },
});
