#!/usr/bin/env node
// qmpkit-server: a drop-in for qemu-storage-daemon's QMP monitor. See --help.
import process from 'node:process';
import { runCommandLine } from '../app.js';

const io = {
  stdout: (text: string) => process.stdout.write(text),
  stderr: (text: string) => process.stderr.write(text),
};

// Signals are handled from the very start: one that arrives while the sockets are being opened
// still shuts down cleanly once they are.
let app:
  | { stop(): Promise<void>; readonly whenClosed: Promise<void>; exitCode(): number }
  | undefined;
let stopSignal: string | undefined;
const onSignal = (signal: string) => {
  if (stopSignal !== undefined) return;
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
    : {
        stop: () => result.app.stop(),
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
