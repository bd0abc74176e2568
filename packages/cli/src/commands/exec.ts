/**
 * `qmpkit exec COMMAND [key=value …]`: one command, its return value as JSON on stdout; QEMU's
 * error as `<class>: <desc>` on stderr with exit 1.
 */
import type { ExecCommand } from '../args.js';
import { type CliIo, connect, describeError, EXIT_FAILURE, EXIT_OK } from '../io.js';
import { formatJson } from '../json-format.js';
import { type Arguments, buildArguments, InputError, pairsOfArgv } from '../keyvalue.js';
import { parseRelaxedJson } from '../relaxed-json.js';

/** The arguments of `exec`: key=value words, or one JSON object. */
export function execArguments(words: readonly string[]): Arguments {
  if (words.length === 1 && (words[0] as string).trimStart().startsWith('{')) {
    let value: unknown;
    try {
      value = parseRelaxedJson(words[0] as string);
    } catch (error) {
      throw new InputError(`bad JSON arguments: ${(error as Error).message}`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new InputError('the JSON arguments must be an object');
    }
    return value as Arguments;
  }
  return buildArguments(pairsOfArgv(words));
}

export async function runExec(invocation: ExecCommand, io: CliIo): Promise<number> {
  const args = execArguments(invocation.words);
  const client = await connect(invocation.target, invocation.connectTimeoutMs, io.interrupt);
  const closed = () => void client.close();
  io.interrupt.addEventListener('abort', closed, { once: true });
  try {
    const result = await client.executeUntyped(
      invocation.name,
      Object.keys(args).length === 0 ? undefined : args,
    );
    io.stdout.write(`${formatJson(result, invocation.compact ? 0 : 2)}\n`);
    return EXIT_OK;
  } catch (error) {
    if (io.interrupt.aborted) throw error;
    io.stderr.write(`${describeError(error)}\n`);
    return EXIT_FAILURE;
  } finally {
    io.interrupt.removeEventListener('abort', closed);
    await client.close();
  }
}
