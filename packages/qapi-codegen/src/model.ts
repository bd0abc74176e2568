// The intermediate model every front end produces and every emitter consumes.
//
// Two front ends build it: the schema-file front end (parse → check, like QEMU's
// scripts/qapi/parser.py, expr.py and schema.py) and the introspection front end (a
// `query-qmp-schema` reply). The model is a superset of introspection's SchemaInfo, enriched with
// what only schema files know (integer widths, conditions, docs, flags, bases, source positions).
// It is plain data: references are by name, so it serialises to JSON and recursive types need no
// special handling.

/** A QAPI `if` condition, as written in the schema. */
export type IfCond =
  | string
  | { readonly all: readonly IfCond[] }
  | { readonly any: readonly IfCond[] }
  | { readonly not: IfCond };

/** Where something was defined: 1-based line and column. */
export interface SourceInfo {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** A documentation comment, split as QEMU's parser splits it. */
export interface Doc {
  /** The free text before any tagged section (the definition's description). */
  readonly body: string;
  /** `@member:` descriptions, by member name (for commands and events: their arguments). */
  readonly members: Readonly<Record<string, string>>;
  /** `Features:` descriptions, by feature name. */
  readonly features: Readonly<Record<string, string>>;
  /**
   * Tagged sections in order: `Since`, `Returns`, `Note`, `Notes`, `Example`, `Examples`, `TODO`…
   * An untagged section (prose after the member descriptions) has the name `''`.
   */
  readonly sections: readonly { readonly name: string; readonly text: string }[];
}

export interface Feature {
  readonly name: string;
  readonly if?: IfCond;
}

/** What every definition carries. */
interface Definition {
  readonly name: string;
  readonly if?: IfCond;
  readonly features: readonly Feature[];
  /** Absent for introspection input and for definitions without a doc comment. */
  readonly doc?: Doc;
  /** Absent for introspection input and for implicit types. */
  readonly info?: SourceInfo;
}

/**
 * A reference to a type: a type's name, or `[Name]` for an array of it (the spelling
 * introspection uses; QAPI has no nested arrays).
 */
export type TypeRef = string;

export type IntKind =
  | 'int'
  | 'int8'
  | 'int16'
  | 'int32'
  | 'int64'
  | 'uint8'
  | 'uint16'
  | 'uint32'
  | 'uint64'
  | 'size';

/** The JSON types of introspection's `SchemaInfoBuiltin.json-type`. */
export type JsonType = 'string' | 'number' | 'int' | 'boolean' | 'null' | 'value';

export interface BuiltinType extends Definition {
  readonly kind: 'builtin';
  readonly jsonType: JsonType;
  /** For integer builtins from schema files; introspection knows only `int`. */
  readonly intKind?: IntKind;
}

export interface EnumValue {
  readonly name: string;
  readonly if?: IfCond;
  readonly features: readonly Feature[];
}

export interface EnumType extends Definition {
  readonly kind: 'enum';
  readonly values: readonly EnumValue[];
  /** The `prefix` key, which only affects C names. */
  readonly prefix?: string;
  /** True for types the generator made up (e.g. `QType`). */
  readonly implicit?: boolean;
}

export interface Member {
  readonly name: string;
  readonly type: TypeRef;
  readonly optional: boolean;
  readonly if?: IfCond;
  readonly features: readonly Feature[];
}

export interface Variant {
  /** The tag value selecting this branch. */
  readonly case: string;
  /** The branch type: an object type (`q_empty` for an implicit empty branch). */
  readonly type: string;
  readonly if?: IfCond;
}

export interface ObjectType extends Definition {
  readonly kind: 'object';
  /** The base type's name (a struct, or an implicit `q_obj_<Union>-base`). */
  readonly base?: string;
  /**
   * The type's own members, base members not repeated. Introspection input has no bases: there
   * every member is listed here.
   */
  readonly members: readonly Member[];
  /**
   * For unions: the tag member's name and one variant per tag value, as QEMU's checker leaves
   * them (the listed branches in order, then an implicit `q_empty` branch for each unlisted value).
   */
  readonly variants?: { readonly tag: string; readonly cases: readonly Variant[] };
  /** Unions are `object`s with variants; this says how the schema spelled the type. */
  readonly origin: 'struct' | 'union' | 'implicit' | 'introspection';
}

export interface AlternateBranch {
  readonly name: string;
  readonly type: TypeRef;
  readonly if?: IfCond;
}

export interface AlternateType extends Definition {
  readonly kind: 'alternate';
  readonly branches: readonly AlternateBranch[];
}

/** Every type definition. Arrays are not definitions: they are `[Name]` references. */
export type TypeDef = BuiltinType | EnumType | ObjectType | AlternateType;

export interface Command extends Definition {
  readonly kind: 'command';
  /** The argument type (an implicit `q_obj_<name>-arg` for inline data); absent: no arguments. */
  readonly argType?: string;
  /** The return type; absent: the command returns `{}`. */
  readonly retType?: TypeRef;
  readonly boxed: boolean;
  /** `gen: false`: the arguments are not checked by QEMU's generated code (open arguments). */
  readonly gen: boolean;
  readonly successResponse: boolean;
  readonly allowOob: boolean;
  readonly allowPreconfig: boolean;
  readonly coroutine: boolean;
}

export interface Event extends Definition {
  readonly kind: 'event';
  /** The data type (an implicit `q_obj_<name>-arg` for inline data); absent: no data. */
  readonly argType?: string;
  readonly boxed: boolean;
}

export type Entity = TypeDef | Command | Event;

/**
 * One step of QEMU's visit of a module (what its test-qapi.py prints): a definition (by name),
 * an `include` directive, or an array type QEMU instantiated there.
 */
export type ModuleItem =
  | { readonly kind: 'entity'; readonly name: string }
  | { readonly kind: 'include'; readonly module: string; readonly info: SourceInfo }
  | {
      readonly kind: 'array';
      /** QEMU's name for the array type, `<Element>List`. */
      readonly name: string;
      readonly elementType: string;
      /** Where the array was first used; absent for arrays of builtins. */
      readonly info?: SourceInfo;
    };

/** A module: one schema file (or `./builtin`, or the introspection reply). */
export interface Module {
  readonly name: string;
  /**
   * The module's definitions in source order. As in QEMU, an implicit type (`q_obj_…-arg`,
   * `q_obj_…-base`) comes right before the definition that made it.
   */
  readonly entities: readonly Entity[];
  /**
   * Schema-file input only: `entities` interleaved with the module's `include` directives and
   * the array types QEMU creates in it, in QEMU's visiting order.
   */
  readonly items?: readonly ModuleItem[];
}

/** A documentation block as it appears in the source (schema-file input only). */
export interface DocBlock {
  readonly info: SourceInfo;
  /** The documented definition's name; absent for free-form blocks. */
  readonly symbol?: string;
  readonly doc: Doc;
}

export interface Pragma {
  readonly docRequired: boolean;
  readonly commandNameExceptions: readonly string[];
  readonly commandReturnsExceptions: readonly string[];
  readonly memberNameExceptions: readonly string[];
}

/** A checked schema. */
export interface Schema {
  /**
   * Modules in QEMU's visiting order (the order `QAPISchema` creates them: the built-in module,
   * then the root file, then each include where it is first met). Commands and events in this
   * order are the order introspection lists them in.
   */
  readonly modules: readonly Module[];
  /** Every type by name, builtins and implicit types included. */
  readonly types: ReadonlyMap<string, TypeDef>;
  readonly commands: ReadonlyMap<string, Command>;
  readonly events: ReadonlyMap<string, Event>;
  readonly pragma: Pragma;
  /** Free-form doc blocks (`= Section` headings and prose), in order; used only for docs. */
  readonly freeDocs: readonly { readonly info: SourceInfo; readonly text: string }[];
  /** Schema-file input only: every doc block, free-form and definition docs, in source order. */
  readonly docs?: readonly DocBlock[];
}
