// @qmpkit/qapi-codegen: QAPI schema compiler (parse → check → model → emit).
// This entry has no Node-specific imports; reading and writing files is in
// `@qmpkit/qapi-codegen/node`.

// Emitters: TypeScript types, and the runtime schema (what `query-qmp-schema` returns).
export { type Defines, evalCond, parseDefines } from './emit/conditions.js';
export { emitRuntimeModule, type RuntimeModuleOptions } from './emit/runtime-module.js';
export {
  generateSchemaInfo,
  type SchemaInfo,
  type SchemaInfoAlternate,
  type SchemaInfoArray,
  type SchemaInfoBuiltin,
  type SchemaInfoCommand,
  type SchemaInfoEnum,
  type SchemaInfoEnumMember,
  type SchemaInfoEvent,
  type SchemaInfoExtras,
  type SchemaInfoObject,
  type SchemaInfoObjectMember,
  type SchemaInfoObjectVariant,
  type SchemaInfoOptions,
  type SchemaInfoResult,
} from './emit/schema-info.js';
export { emitTypeScript, type TypeScriptOptions } from './emit/typescript.js';
// Front ends: schema files and `query-qmp-schema` output, both giving a checked model.
export { QapiSchemaError } from './errors.js';
export { isQapiFrontEnd, QAPI_FRONT_ENDS, type QapiFrontEnd } from './front-end.js';
export {
  type GeneratedModules,
  type GenerateOptions,
  generateModules,
  RUNTIME_FILE,
  TYPES_FILE,
} from './generate.js';
export {
  looksLikeIntrospection,
  schemaFromIntrospection,
  schemaFromIntrospectionText,
} from './introspection.js';
export { type IntrospectionNameMap, mapIntrospectionNames } from './introspection-names.js';
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
export { type ParseSchemaOptions, parseSchema } from './schema.js';
