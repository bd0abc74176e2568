// Runs a scenario against one QMP server and records what happened: every command sent and every
// message received, in order, each received message tied to the expectation it met. The runner
// stops at the first unmet expectation (what follows would only be noise) but still records
// whatever else the server writes during a short settle period, so a diff shows the divergence.

import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { HANG_GUARD_MS } from '@qmpkit/test-support';
import { type Daemon, type StartOptions, startDaemon, startQemuStorageDaemon } from './daemon.js';
import type { QemuInstall } from './qemu-binaries.js';
import { RawQmpSession, type RecordedMessage } from './raw-session.js';
import type {
  Expectation,
  Pattern,
  Scenario,
  ScenarioVersion,
  SetupStep,
  Step,
} from './scenario.js';
import { forVersion, Since, Volatile } from './scenario.js';

const execFileAsync = promisify(execFile);

/** A QMP server that takes qemu-storage-daemon's command line. */
export interface Target {
  readonly name: string;
  /** The QEMU version it answers like, whose expectations a scenario checks (default 7.2). */
  readonly version?: ScenarioVersion;
  start(options: StartOptions): Promise<Daemon>;
}

/** A target started as `command ...args --blockdev ... --chardev ... --monitor ...`. */
export function commandTarget(name: string, command: string, args: readonly string[] = []): Target {
  return { name, start: (options) => startDaemon(command, args, options) };
}

/**
 * The oracle. qemu-storage-daemon creates its socket while it is still processing options, so
 * `startQemuStorageDaemon` waits for its `--pidfile`, which it writes only after every option.
 */
export const qemuTarget: Target = {
  name: 'qemu',
  version: '7.2',
  start: (options) => startQemuStorageDaemon(options),
};

/** The oracle of another QEMU version (see qemu-binaries.ts); 7.2's is `qemuTarget`. */
export function qemuTargetFor(install: QemuInstall): Target {
  if (install.version === '7.2') return qemuTarget;
  return {
    name: `qemu-${install.version}`,
    version: install.version,
    start: (options) => startQemuStorageDaemon(options, install),
  };
}

/**
 * qmpkit-server, from the built server-app package, on the same command line as QEMU, answering
 * like QEMU `version` (`--qemu-version`).
 */
export function qmpkitServerTargetFor(version: ScenarioVersion): Target {
  const bin = fileURLToPath(
    new URL('dist/bin/qmpkit-server.js', import.meta.resolve('@qmpkit/server-app/package.json')),
  );
  return {
    name: version === '7.2' ? 'qmpkit-server' : `qmpkit-server-${version}`,
    version,
    start: (options) =>
      // Like QEMU, qmpkit-server writes its pidfile once every option is processed.
      startDaemon(process.execPath, [bin, '--qemu-version', version], {
        ...options,
        pidfileOption: '--pidfile',
      }),
  };
}

/** qmpkit-server answering like QEMU 7.2, the partner of `qemuTarget`. */
export const qmpkitServerTarget: Target = qmpkitServerTargetFor('7.2');

export type TranscriptEntry =
  | { readonly kind: 'send'; readonly json: unknown }
  | {
      readonly kind: 'receive';
      readonly json: unknown;
      /** The expectation this message met (undefined: the greeting, or a message nobody expected). */
      readonly expected?: Expectation;
      /** For a `repeated` expectation: how many identical messages in a row met it. */
      readonly count?: number;
    }
  | { readonly kind: 'poll'; readonly label: string }
  | { readonly kind: 'sleep'; readonly ms: number }
  | {
      readonly kind: 'run';
      readonly command: string;
      readonly args: readonly string[];
      readonly exitCode: number | string;
      readonly stdout: string;
    };

export interface ScenarioRun {
  readonly scenario: string;
  readonly target: string;
  readonly transcript: readonly TranscriptEntry[];
  /** Empty when every expectation was met and nothing unexpected arrived. */
  readonly failures: readonly string[];
  readonly elapsedMs: number;
}

// What a step waits for — a message, a poll's condition, a `run` step's program (qemu-io,
// qemu-img, nbdinfo…, a whole process) — has no deadline of its own but the hang guard: under load
// QEMU has taken more than 5 s for an event and a program more than 5 s to start and finish. A
// scenario never asserts how long anything took; a late message is still compared.
const DEFAULT_EXPECT_TIMEOUT_MS = HANG_GUARD_MS;
const DEFAULT_RUN_TIMEOUT_MS = HANG_GUARD_MS;
const DEFAULT_SETTLE_MS = 150;
/** The largest number of messages a scenario may produce; a runaway server is cut off. */
const MAX_MESSAGES = 10_000;

/**
 * Makes the setup's images. Asynchronous: a runner serving other runs (or an embedded
 * qmpkit-server, qmpkit-in-process.ts) in this process must not stall while qemu-img works.
 */
export async function prepareSetup(dir: string, setup: readonly SetupStep[]): Promise<void> {
  for (const step of setup) {
    const [command, args] =
      'qemuImg' in step
        ? ['qemu-img', step.qemuImg]
        : ['qemu-io', [...step.qemuIo.commands.flatMap((c) => ['-c', c]), step.qemuIo.image]];
    await execFileAsync(command, args, { cwd: dir });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Whether `value` matches `pattern` exactly (objects key for key, Volatile by kind). */
export function matchesPattern(value: unknown, pattern: Pattern): boolean {
  if (pattern instanceof Volatile) return pattern.matches(value);
  if (pattern instanceof Since) throw new Error('a Since pattern must be resolved (forVersion)');
  if (pattern === null || typeof pattern !== 'object') return value === pattern;
  if (Array.isArray(pattern)) {
    return (
      Array.isArray(value) &&
      value.length === pattern.length &&
      pattern.every((p: Pattern, i: number) => matchesPattern(value[i], p))
    );
  }
  if (!isObject(value)) return false;
  const keys = Object.keys(pattern);
  if (Object.keys(value).length !== keys.length) return false;
  const record = pattern as { readonly [key: string]: Pattern };
  return keys.every(
    (k) => Object.hasOwn(value, k) && matchesPattern(value[k], record[k] as Pattern),
  );
}

/** Whether a received message meets an expectation (`id` is checked separately). */
export function meets(message: unknown, expected: Expectation, id: unknown): boolean {
  if (!isObject(message)) return false;
  if ('event' in expected) {
    if (message.event !== expected.event || !('timestamp' in message)) return false;
    if (expected.data === undefined) return !('data' in message);
    return matchesPattern(message.data, expected.data);
  }
  if (message.id !== id) return false;
  if ('return' in expected)
    return 'return' in message && matchesPattern(message.return, expected.return);
  return (
    isObject(message.error) &&
    message.error.class === expected.error.class &&
    message.error.desc === expected.error.desc
  );
}

export function describeExpectation(expected: Expectation): string {
  if ('event' in expected) {
    const data = expected.data === undefined ? '' : ` ${showPattern(expected.data)}`;
    return `event ${expected.event}${data}${expected.repeated ? ' (one or more)' : ''}`;
  }
  if ('return' in expected) return `return ${showPattern(expected.return)}`;
  return `error ${expected.error.class}: ${expected.error.desc}`;
}

export function showPattern(pattern: Pattern): string {
  return JSON.stringify(pattern, (_key, value: unknown) =>
    value instanceof Volatile ? `<any ${value.kind}>` : value,
  );
}

export interface RunScenarioOptions {
  /**
   * A directory holding what the scenario's setup makes (made by prepareSetup), copied into the
   * run's directory instead of running the setup again: for many runs of one setup.
   */
  readonly prepared?: string;
}

/**
 * Runs `scenario` against `target` in a fresh temporary directory, with the expectations of the
 * target's QEMU version.
 */
export async function runScenario(
  versioned: Scenario,
  target: Target,
  options: RunScenarioOptions = {},
): Promise<ScenarioRun> {
  const scenario = forVersion(versioned, target.version ?? '7.2');
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), `qmpkit-scenario-${target.name}-`));
  const transcript: TranscriptEntry[] = [];
  const failures: string[] = [];
  let daemon: Daemon | undefined;
  let session: RawQmpSession | undefined;
  try {
    if (options.prepared === undefined) await prepareSetup(dir, scenario.setup ?? []);
    // cp keeps the holes of sparse files (a copy that filled them would change what jobs see).
    else await execFileAsync('cp', ['-a', '--sparse=always', `${options.prepared}/.`, dir]);
    daemon = await target.start({
      dir,
      blockdevs: scenario.blockdevs,
      ...(scenario.args ? { args: scenario.args } : {}),
    });
    session = await connectForGreeting(daemon.socketPath);
    await new Walker(session, transcript, failures, dir).walk(scenario);
  } catch (error) {
    failures.push(error instanceof Error ? error.message : String(error));
  } finally {
    await session?.close();
    if (daemon) {
      const stderr = daemon.stderr().trim();
      if (failures.length > 0 && stderr !== '') failures.push(`${target.name} stderr: ${stderr}`);
      const exited = daemon.exitStatus();
      if (failures.length > 0 && exited !== null) {
        failures.push(`${target.name} had exited (${exited}) before the end`);
      }
      await daemon.stop();
    }
    // The daemon removes it when it stops; also when it never started.
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    scenario: scenario.name,
    target: target.name,
    transcript,
    failures,
    elapsedMs: Date.now() - started,
  };
}

/**
 * Connects and waits for the greeting. Every target is started ready (QEMU: its pidfile is
 * written; qmpkit-server: its socket accepts), so a refused connection here is a real failure.
 */
async function connectForGreeting(socketPath: string): Promise<RawQmpSession> {
  const session = await RawQmpSession.connect(socketPath);
  try {
    await session.waitForCount(1, DEFAULT_EXPECT_TIMEOUT_MS);
  } catch (error) {
    await session.close();
    throw error;
  }
  return session;
}

class Walker {
  readonly #session: RawQmpSession;
  readonly #transcript: TranscriptEntry[];
  readonly #failures: string[];
  /** Index of the next received message not yet accounted for. */
  #cursor = 0;
  /** Messages that are poll replies: kept out of the transcript. */
  readonly #pollReplies = new Set<number>();
  #nextId = 1;
  /** Ids of the commands sent and not yet answered, oldest first. */
  readonly #unanswered: unknown[] = [];
  /** The last `repeated` expectation, which may absorb further identical messages. */
  #repeating: { expected: Expectation; entryIndex: number } | undefined;

  readonly #dir: string;

  constructor(
    session: RawQmpSession,
    transcript: TranscriptEntry[],
    failures: string[],
    dir: string,
  ) {
    this.#dir = dir;
    this.#session = session;
    this.#transcript = transcript;
    this.#failures = failures;
  }

  async walk(scenario: Scenario): Promise<void> {
    // The greeting (already received by connectForGreeting), then the negotiation, are part of
    // every transcript.
    if (!(await this.#next(DEFAULT_EXPECT_TIMEOUT_MS))) {
      this.#failures.push('no greeting');
      return;
    }
    const greeting = this.#raw(this.#cursor);
    this.#receive(this.#cursor++);
    this.#send('qmp_capabilities', undefined, undefined);
    // A real qemu-storage-daemon under heavy load has twice greeted a client that connected right
    // after it wrote its pidfile (most likely its monitor's handlers, set up in the monitor's own
    // thread, racing the connection). A repeat of the very same greeting before the negotiation
    // reply is that start-up race, not a behaviour to compare: it is left out of the transcript.
    if ((await this.#next(DEFAULT_EXPECT_TIMEOUT_MS)) && this.#raw(this.#cursor) === greeting) {
      this.#cursor++;
    }
    if (!(await this.#expect({ return: {} }, DEFAULT_EXPECT_TIMEOUT_MS, 'negotiation'))) return;

    for (const [index, step] of scenario.steps.entries()) {
      const where = `step ${index + 1}`;
      if ('send' in step) {
        this.#send(step.send, step.arguments, step.id);
      } else if ('expect' in step) {
        const met = await this.#expect(
          step.expect,
          step.timeoutMs ?? DEFAULT_EXPECT_TIMEOUT_MS,
          where,
        );
        if (!met) break;
      } else if ('poll' in step) {
        if (!(await this.#poll(step, where))) break;
      } else if ('run' in step) {
        if (!(await this.#run(step, where))) break;
      } else if ('byVersion' in step) {
        throw new Error(`${where}: byVersion steps must be resolved (forVersion)`);
      } else {
        this.#transcript.push({ kind: 'sleep', ms: step.sleepMs });
        await new Promise((resolve) => setTimeout(resolve, step.sleepMs));
      }
    }

    // Anything further the server writes is unexpected (after absorbing trailing repeats).
    await this.#session.settle(scenario.settleMs ?? DEFAULT_SETTLE_MS, 5000);
    const messages = this.#session.messages;
    for (; this.#cursor < messages.length; this.#cursor++) {
      if (this.#pollReplies.has(this.#cursor)) continue;
      if (this.#absorbRepeat(this.#cursor)) continue;
      this.#receive(this.#cursor);
      if (this.#failures.length === 0) {
        this.#failures.push(`unexpected message after the last step: ${this.#raw(this.#cursor)}`);
      }
    }
  }

  #send(command: string, args: Record<string, unknown> | undefined, id: unknown): void {
    const json: Record<string, unknown> = { execute: command };
    if (args !== undefined) json.arguments = args;
    json.id = id ?? this.#nextId++;
    this.#unanswered.push(json.id);
    this.#transcript.push({ kind: 'send', json });
    this.#session.sendJson(json);
  }

  #receive(index: number, expected?: Expectation): void {
    const message = this.#session.messages[index] as RecordedMessage;
    this.#transcript.push(
      expected
        ? { kind: 'receive', json: message.json, expected }
        : { kind: 'receive', json: message.json },
    );
  }

  #raw(index: number): string {
    return this.#session.messages[index]?.raw ?? '<none>';
  }

  /** Waits until a message not yet accounted for (and not a poll reply) exists at the cursor. */
  async #next(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.#pollReplies.has(this.#cursor)) this.#cursor++;
      if (this.#cursor >= MAX_MESSAGES) throw new Error(`more than ${MAX_MESSAGES} messages`);
      if (this.#session.messages.length > this.#cursor) return true;
      const left = deadline - Date.now();
      if (left <= 0 || this.#session.closed) return false;
      try {
        await this.#session.waitForCount(this.#cursor + 1, left);
      } catch {
        return false;
      }
    }
  }

  #absorbRepeat(index: number): boolean {
    const repeating = this.#repeating;
    if (!repeating) return false;
    if (!meets(this.#session.messages[index]?.json, repeating.expected, undefined)) return false;
    const entry = this.#transcript[repeating.entryIndex];
    if (entry?.kind === 'receive') {
      this.#transcript[repeating.entryIndex] = { ...entry, count: (entry.count ?? 1) + 1 };
    }
    return true;
  }

  async #expect(expected: Expectation, timeoutMs: number, where: string): Promise<boolean> {
    for (;;) {
      if (!(await this.#next(timeoutMs))) {
        this.#failures.push(
          `${where}: expected ${describeExpectation(expected)}, but nothing arrived within ${timeoutMs} ms` +
            (this.#session.closed ? ' (connection closed)' : ''),
        );
        return false;
      }
      // Further copies of a repeated message may arrive before the next expected one.
      if (this.#absorbRepeat(this.#cursor)) {
        this.#cursor++;
        continue;
      }
      break;
    }
    const index = this.#cursor++;
    const message = this.#session.messages[index]?.json;
    if (!meets(message, expected, this.#unanswered[0])) {
      this.#receive(index);
      this.#failures.push(
        `${where}: expected ${describeExpectation(expected)}, got ${this.#raw(index)}`,
      );
      return false;
    }
    this.#receive(index, expected);
    if (!('event' in expected)) this.#unanswered.shift();
    this.#repeating =
      'event' in expected && expected.repeated
        ? { expected, entryIndex: this.#transcript.length - 1 }
        : undefined;
    return true;
  }

  /** Runs an external program in the scenario directory and checks its exit code and output. */
  async #run(step: Extract<Step, { run: string }>, where: string): Promise<boolean> {
    const result = await new Promise<{ exitCode: number | string; stdout: string }>((resolve) => {
      execFile(
        step.run,
        [...step.args],
        {
          cwd: this.#dir,
          timeout: step.timeoutMs ?? DEFAULT_RUN_TIMEOUT_MS,
          maxBuffer: 1024 * 1024,
        },
        (error, stdout) => {
          const code = error === null ? 0 : (error.code ?? error.signal ?? 'failed');
          resolve({ exitCode: typeof code === 'number' ? code : String(code), stdout });
        },
      );
    });
    this.#transcript.push({ kind: 'run', command: step.run, args: step.args, ...result });
    if (result.exitCode !== step.exitCode || result.stdout !== step.stdout) {
      this.#failures.push(
        `${where}: ${step.run} exited ${result.exitCode} (expected ${step.exitCode}) and printed ${JSON.stringify(result.stdout)} (expected ${JSON.stringify(step.stdout)})`,
      );
      return false;
    }
    return true;
  }

  async #poll(step: Extract<Step, { poll: string }>, where: string): Promise<boolean> {
    const deadline = Date.now() + (step.timeoutMs ?? DEFAULT_EXPECT_TIMEOUT_MS);
    let attempt = 0;
    for (;;) {
      const id = `poll-${attempt++}`;
      const from = this.#session.messages.length;
      const json: Record<string, unknown> = { execute: step.poll, id };
      if (step.arguments !== undefined) json.arguments = step.arguments;
      this.#session.sendJson(json);
      let reply: RecordedMessage;
      try {
        reply = await this.#session.waitFor(
          (m) => isObject(m) && m.id === id,
          Math.max(DEFAULT_EXPECT_TIMEOUT_MS, step.timeoutMs ?? 0),
          from,
        );
      } catch {
        this.#failures.push(`${where}: no reply to the poll '${step.label}'`);
        return false;
      }
      this.#pollReplies.add(this.#session.messages.indexOf(reply));
      const value = isObject(reply.json) ? reply.json.return : undefined;
      if (step.until(value)) {
        this.#transcript.push({ kind: 'poll', label: step.label });
        return true;
      }
      if (Date.now() >= deadline) {
        this.#failures.push(
          `${where}: '${step.label}' did not happen; last poll said ${reply.raw}`,
        );
        return false;
      }
      await new Promise((resolve) => setTimeout(resolve, step.intervalMs ?? 20));
    }
  }
}
