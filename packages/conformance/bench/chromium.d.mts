// Types of chromium.mjs, for the browser tests (test/browser-harness.ts).
import type { BrowserContext, Page } from 'playwright-core';

export declare const CHROMIUM: string;

export declare function profilePrefix(): string;

export declare function chromiumProcesses(group: number, profile: string): number[];

export interface Chromium {
  readonly context: BrowserContext;
  /** The profile directory, removed by close(). */
  readonly profile: string;
  /** The browser's process group. */
  readonly group: number;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export declare function launchChromium(
  viewport?: { width: number; height: number },
  options?: { handleSignals?: boolean },
): Promise<Chromium>;

export declare function runCleanup(steps: Array<() => unknown>): Promise<void>;

export declare function runScript(
  main: (cleanup: Array<() => unknown>) => Promise<void>,
): Promise<void>;
