// Argument parsing for the qapi-codegen command (pure: the bin entry feeds it process.argv).

import { SYMBOL } from './emit/conditions.js';
import { isQapiFrontEnd, QAPI_FRONT_ENDS, type QapiFrontEnd } from './front-end.js';

export interface CliOptions {
  readonly help: false;
  /** The schema file or `query-qmp-schema` reply to read. */
  readonly input: string;
  readonly outDir: string;
  /** Symbols given with --define, in order. */
  readonly defines: readonly string[];
  /** Files of symbols given with --defines-file, in order. */
  readonly definesFiles: readonly string[];
  /** Prepended to the output file names. */
  readonly prefix: string;
  /** For introspection input: a schema file to take the real type names from. */
  readonly namesFrom?: string;
  /** Whose front-end rules check schema files (default 7.2). */
  readonly qemu?: QapiFrontEnd;
}

export type CliCommand = CliOptions | { readonly help: true };

export const USAGE = `Usage: qapi-codegen <schema.json | introspection.json> --out DIR [options]

Reads a QAPI schema file (with its includes) or a query-qmp-schema reply and writes into DIR:
  <prefix>types.generated.ts   TypeScript types: enums, structs, unions, CommandMap, EventMap
  <prefix>schema.generated.ts  the runtime schema (the query-qmp-schema reply, as data)

Options:
  --out DIR            output directory (created if missing)
  --define SYM         treat the condition symbol SYM as defined (repeatable);
                       symbols not defined are false
  --defines-file FILE  read defined symbols from FILE, one per line (repeatable)
  --prefix NAME        prepend NAME to the output file names
  --names-from SCHEMA  for introspection input: name the masked types after the
                       matching types of this schema file (a parallel walk)
  --qemu VERSION       check schema files by the rules of QEMU VERSION's generator:
                       7.2 (the default) or 10.0
  -h, --help           show this help
`;

export class CodegenUsageError extends Error {
  override readonly name = 'CodegenUsageError';
}

/** Parses the arguments after the program name. Throws CodegenUsageError on bad usage. */
export function parseCliArgs(args: readonly string[]): CliCommand {
  let input: string | undefined;
  let outDir: string | undefined;
  let prefix = '';
  let namesFrom: string | undefined;
  let qemu: QapiFrontEnd | undefined;
  const defines: string[] = [];
  const definesFiles: string[] = [];
  let onlyPositional = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (onlyPositional || !arg.startsWith('-') || arg === '-') {
      if (input !== undefined)
        throw new CodegenUsageError(`unexpected argument '${arg}' (one input only)`);
      input = arg;
      continue;
    }
    if (arg === '--') {
      onlyPositional = true;
      continue;
    }
    if (arg === '-h' || arg === '--help') return { help: true };
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg : arg.slice(0, eq);
    const value = (): string => {
      if (eq !== -1) return arg.slice(eq + 1);
      const next = args[i + 1];
      if (next === undefined || (next.startsWith('-') && next !== '-')) {
        throw new CodegenUsageError(`option '${flag}' needs a value`);
      }
      i++;
      return next;
    };
    switch (flag) {
      case '--out':
      case '-o':
        outDir = value();
        break;
      case '--define':
      case '-D': {
        const sym = value();
        if (!SYMBOL.test(sym)) throw new CodegenUsageError(`'${sym}' is not a condition symbol`);
        defines.push(sym);
        break;
      }
      case '--defines-file':
        definesFiles.push(value());
        break;
      case '--prefix': {
        const p = value();
        if (/[/\\]/.test(p))
          throw new CodegenUsageError(`--prefix must not contain a path separator`);
        prefix = p;
        break;
      }
      case '--names-from':
        namesFrom = value();
        break;
      case '--qemu': {
        const v = value();
        if (!isQapiFrontEnd(v)) {
          throw new CodegenUsageError(
            `--qemu must be one of ${QAPI_FRONT_ENDS.join(', ')}, not '${v}'`,
          );
        }
        qemu = v;
        break;
      }
      default:
        throw new CodegenUsageError(`unknown option '${flag}'`);
    }
    if (outDir === '') throw new CodegenUsageError(`option '--out' needs a value`);
  }
  if (input === undefined) throw new CodegenUsageError('missing input file (see --help)');
  if (outDir === undefined) throw new CodegenUsageError('missing --out DIR (see --help)');
  return {
    help: false,
    input,
    outDir,
    defines,
    definesFiles,
    prefix,
    ...(namesFrom === undefined ? {} : { namesFrom }),
    ...(qemu === undefined ? {} : { qemu }),
  };
}
