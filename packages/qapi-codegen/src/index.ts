// @qmpkit/qapi-codegen: QAPI schema compiler (parse → check → model → emit).

export type { CliCommand, CliOptions } from './cli-args.js';
export { CliUsageError, parseCliArgs, USAGE } from './cli-args.js';
export type { Defines } from './emit/conditions.js';
export { describeCond, evalCond, parseDefines } from './emit/conditions.js';
export { pascalCase, RESERVED_IDENTIFIERS, typeIdentifiers } from './emit/names.js';
export type { RuntimeModuleOptions } from './emit/runtime-module.js';
export { emitRuntimeModule } from './emit/runtime-module.js';
export type {
  SchemaInfo,
  SchemaInfoAlternate,
  SchemaInfoArray,
  SchemaInfoBuiltin,
  SchemaInfoCommand,
  SchemaInfoEnum,
  SchemaInfoEnumMember,
  SchemaInfoEvent,
  SchemaInfoExtras,
  SchemaInfoObject,
  SchemaInfoObjectMember,
  SchemaInfoObjectVariant,
  SchemaInfoOptions,
  SchemaInfoResult,
} from './emit/schema-info.js';
export {
  generateSchemaInfo,
  INTROSPECTION_MODULE,
  isIntrospectionSchema,
} from './emit/schema-info.js';
export type { TypeScriptOptions } from './emit/typescript.js';
export { emitTypeScript } from './emit/typescript.js';
export { QapiSchemaError } from './errors.js';
export type { GeneratedModules, GenerateOptions } from './generate.js';
export { generateModules, RUNTIME_FILE, TYPES_FILE } from './generate.js';
export {
  looksLikeIntrospection,
  MAX_INTROSPECTION_ENTRIES,
  schemaFromIntrospection,
  schemaFromIntrospectionText,
} from './introspection.js';
export type { IntrospectionNameMap } from './introspection-names.js';
export { mapIntrospectionNames } from './introspection-names.js';
export type {
  AlternateBranch,
  AlternateType,
  BuiltinType,
  Command,
  Doc,
  DocBlock,
  Entity,
  EnumType,
  EnumValue,
  Event,
  Feature,
  IfCond,
  IntKind,
  JsonType,
  Member,
  Module,
  ModuleItem,
  ObjectType,
  Pragma,
  Schema,
  SourceInfo,
  TypeDef,
  TypeRef,
  Variant,
} from './model.js';
export type {
  GenerateFilesOptions,
  GenerateFilesResult,
  InputKind,
} from './node/generate-files.js';
export {
  collectDefines,
  generateFiles,
  loadInput,
  MAX_INPUT_BYTES,
} from './node/generate-files.js';
export { loadSchemaFile } from './node/load-schema.js';
export { parseSchema } from './schema.js';
