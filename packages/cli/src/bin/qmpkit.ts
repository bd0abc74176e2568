#!/usr/bin/env node
// qmpkit: a command-line QMP client. See `qmpkit --help`.
import { homedir } from 'node:os';
import process from 'node:process';
import { main } from '../main.js';
import { SHOW_CURSOR } from '../view.js';

const interrupt = new AbortController();
process.on('SIGINT', () => {
  if (!interrupt.signal.aborted) {
    // First Ctrl-C: the command winds down (cancels its job, closes the connection).
    interrupt.abort();
    return;
  }
  // Second Ctrl-C: leave now, with the cursor visible again.
  if (process.stdout.isTTY) process.stdout.write(SHOW_CURSOR);
  if (process.stderr.isTTY) process.stderr.write(SHOW_CURSOR);
  process.exit(130);
});
// SIGTERM winds down like a first Ctrl-C (a recording is closed whole, a connection ends cleanly).
process.on('SIGTERM', () => {
  if (!interrupt.signal.aborted) interrupt.abort();
});
// A closed pipe (`qmpkit jobs watch --json | head -1`) ends the program quietly.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
});

let home = '';
try {
  home = homedir();
} catch {
  home = '';
}

const code = await main(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  home,
  interrupt: interrupt.signal,
  now: () => Date.now(),
});
process.exitCode = code;
// Let stdout drain, then leave even if a handle (a stdin in raw mode, a timer) is still open.
process.stdout.write('', () => process.exit(code));
