// @qmpkit/qapi-codegen/node: the file-system side of the compiler — load a schema or an
// introspection file from disk, and generate the output files, as the `qapi-codegen` bin does.

export {
  collectDefines,
  type GenerateFilesOptions,
  type GenerateFilesResult,
  generateFiles,
  type InputKind,
  loadInput,
} from './generate-files.js';
export { loadSchemaFile } from './load-schema.js';
