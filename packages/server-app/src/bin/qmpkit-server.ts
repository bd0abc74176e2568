#!/usr/bin/env node
// qmpkit-server: a drop-in for qemu-storage-daemon's QMP monitor. See --help.
import process from 'node:process';
import { runCommandLine } from '../app.js';

const io = {
  stdout: (text: string) => process.stdout.write(text),
  stderr: (text: string) => process.stderr.write(text),
};

// Signals are handled from the very start: one that arrives while the sockets are being opened
// still shuts down cleanly once they are. A second signal cuts a shutdown short: clients whose
// output is still being flushed are cut off (socket files and the pidfile still go).
let app:
  | {
      stop(): Promise<void>;
      abort?(): void;
      readonly whenClosed: Promise<void>;
      exitCode(): number;
    }
  | undefined;
let stopSignal: string | undefined;
const onSignal = (signal: string) => {
  if (stopSignal !== undefined) {
    // Before the app is up, the first signal's shutdown runs as soon as it is.
    if (app?.abort !== undefined) {
      io.stderr(`qmpkit-server: ${signal} again, cutting the shutdown short\n`);
      app.abort();
    }
    return;
  }
  stopSignal = signal;
  if (app !== undefined) {
    io.stderr(`qmpkit-server: ${signal}, shutting down\n`);
    void app.stop();
  }
};
process.on('SIGINT', () => onSignal('SIGINT'));
process.on('SIGTERM', () => onSignal('SIGTERM'));

const result = await runCommandLine(process.argv.slice(2), io);
if ('exitCode' in result) {
  process.exit(result.exitCode);
}
app =
  'replay' in result
    ? { ...result.replay, exitCode: () => 0 }
    : 'fleet' in result
      ? result.fleet
      : {
          stop: () => result.app.stop(),
          abort: () => void result.app.server.abort(),
          whenClosed: result.app.server.whenClosed,
          exitCode: () => result.app.exitCode(),
        };
if (stopSignal !== undefined) {
  io.stderr(`qmpkit-server: ${stopSignal}, shutting down\n`);
  void app.stop();
}
// `quit`, a signal, or anything else that closes the server ends the process.
await app.whenClosed;
process.exit(app.exitCode());
