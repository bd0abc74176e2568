/**
 * `qmpkit record`: a transparent recording proxy between QMP clients and a QMP server, until
 * Ctrl-C or SIGTERM (see record/proxy.ts for what it forwards and record/record-file.ts for how
 * the file is written).
 */
import { type CliIo, EXIT_FAILURE, EXIT_OK } from '../io.js';
import { describeTarget, RecordingProxy } from '../record/proxy.js';
import { RecordFile } from '../record/record-file.js';
import type { RecordCommand } from '../record-args.js';

export async function runRecord(invocation: RecordCommand, io: CliIo): Promise<number> {
  const say = (line: string) => io.stderr.write(`qmpkit record: ${line}\n`);
  let file: RecordFile;
  try {
    file = new RecordFile(invocation.out, {
      upstream: describeTarget(invocation.upstream),
      listen: describeTarget(invocation.listen),
    });
  } catch (error) {
    say(`cannot write ${invocation.out}: ${(error as Error).message}`);
    return EXIT_FAILURE;
  }
  let proxy: RecordingProxy;
  try {
    proxy = await RecordingProxy.start({
      upstream: invocation.upstream,
      listen: invocation.listen,
      file,
      connectTimeoutMs: invocation.connectTimeoutMs,
      log: say,
    });
  } catch (error) {
    file.close();
    say((error as Error).message);
    return EXIT_FAILURE;
  }
  say(
    `listening on ${describeTarget(proxy.address)}, recording ${describeTarget(invocation.upstream)} to ${invocation.out} (Ctrl-C to stop)`,
  );
  if (!io.interrupt.aborted) {
    await new Promise<void>((resolve) =>
      io.interrupt.addEventListener('abort', () => resolve(), { once: true }),
    );
  }
  await proxy.close();
  file.close();
  say(`stopped; ${proxy.served} connection(s) recorded in ${invocation.out}`);
  return EXIT_OK;
}
