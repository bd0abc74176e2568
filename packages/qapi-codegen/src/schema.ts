// Model building and semantic checks, as QEMU 7.2's scripts/qapi/schema.py does them: define
// every entity (with the implicit types and array types QEMU makes), resolve and check them in
// definition order (with their docs), place them into modules, and produce the shared model.

import { checkExprs, cName, metaOf } from './expr.js';
import type { QapiFrontEnd } from './front-end.js';
import type {
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
  Schema,
  TypeDef,
  Variant,
} from './model.js';
import {
  DocSection,
  type ParsedExpr,
  type Pos,
  type PragmaState,
  parseSchemaFiles,
  posixDirname,
  posixRelative,
  type QapiDoc,
  type QObject,
  type QValue,
  schemaError,
} from './parser.js';

const BUILTIN_MODULE = './builtin';

const BUILTINS: readonly [string, JsonType][] = [
  ['str', 'string'],
  ['number', 'number'],
  ['int', 'int'],
  ['int8', 'int'],
  ['int16', 'int'],
  ['int32', 'int'],
  ['int64', 'int'],
  ['uint8', 'int'],
  ['uint16', 'int'],
  ['uint32', 'int'],
  ['uint64', 'int'],
  ['size', 'int'],
  ['bool', 'boolean'],
  ['any', 'value'],
  ['null', 'null'],
];

// --- internal entities (mutable while checking) -----------------------------------------------

class MemberBase {
  definedIn: string | undefined;
  readonly role: string = 'member';

  constructor(
    readonly name: string,
    readonly info: Pos | undefined,
    readonly ifcond: QValue | undefined,
  ) {}

  setDefinedIn(name: string): void {
    this.definedIn = name;
  }

  checkClash(info: Pos | undefined, seen: Map<string, MemberBase>, qemu: QapiFrontEnd): void {
    const c = cName(this.name);
    const other = seen.get(c);
    if (other) {
      throw schemaError(
        info,
        'name-clash',
        `${this.describe(info, qemu)} collides with ${other.describe(info, qemu)}`,
      );
    }
    seen.set(c, this);
  }

  describe(info: Pos | undefined, qemu: QapiFrontEnd): string {
    let role = this.role;
    let definedIn = this.definedIn ?? '';
    if (qemu !== '7.2') {
      // 10.0 names the definition an implicit type belongs to when it is not the current one.
      let meta = 'type';
      if (definedIn.startsWith('q_obj_')) {
        definedIn = definedIn.slice(6);
        if (definedIn.endsWith('-arg')) {
          role = 'parameter';
          meta = 'command';
          definedIn = definedIn.slice(0, -4);
        } else if (definedIn.endsWith('-base')) {
          role = `base ${role}`;
          definedIn = definedIn.slice(0, -5);
        }
      }
      if (definedIn !== info?.defnName) return `${role} '${this.name}' of ${meta} '${definedIn}'`;
      return `${role} '${this.name}'`;
    }
    if (definedIn.startsWith('q_obj_')) {
      definedIn = definedIn.slice(6);
      if (definedIn.endsWith('-arg')) role = 'parameter';
      else if (definedIn.endsWith('-base')) role = `base ${role}`;
    } else if (definedIn !== info?.defnName) {
      return `${role} '${this.name}' of type '${definedIn}'`;
    }
    return `${role} '${this.name}'`;
  }
}

class FeatureM extends MemberBase {
  override readonly role = 'feature';
  isSpecial(): boolean {
    return this.name === 'deprecated' || this.name === 'unstable';
  }
}

class EnumMemberM extends MemberBase {
  override readonly role = 'value';
  constructor(
    name: string,
    info: Pos | undefined,
    ifcond: QValue | undefined,
    readonly features: FeatureM[],
  ) {
    super(name, info, ifcond);
    for (const f of features) f.setDefinedIn(name);
  }
}

class ObjMemberM extends MemberBase {
  type: TypeE | undefined;
  constructor(
    name: string,
    info: Pos | undefined,
    readonly typeName: string,
    readonly optional: boolean,
    ifcond: QValue | undefined,
    readonly features: FeatureM[],
  ) {
    super(name, info, ifcond);
    for (const f of features) f.setDefinedIn(name);
  }

  check(schema: SchemaBuilder): void {
    this.type = schema.resolveType(this.typeName, this.info, (i) => this.describe(i, schema.qemu));
    const seen = new Map<string, MemberBase>();
    for (const f of this.features) f.checkClash(this.info, seen, schema.qemu);
  }
}

class VariantM extends ObjMemberM {
  override readonly role = 'branch';
  constructor(name: string, info: Pos | undefined, typeName: string, ifcond: QValue | undefined) {
    super(name, info, typeName, false, ifcond, []);
  }
}

class VariantsM {
  tagMember: ObjMemberM | undefined;
  constructor(
    readonly tagName: string | undefined,
    readonly info: Pos | undefined,
    tagMember: ObjMemberM | undefined,
    readonly variants: VariantM[],
  ) {
    this.tagMember = tagMember;
  }

  setDefinedIn(name: string): void {
    for (const v of this.variants) v.setDefinedIn(name);
  }

  check(schema: SchemaBuilder, seen: Map<string, MemberBase>): void {
    if (this.tagName !== undefined) {
      const tag = seen.get(cName(this.tagName));
      let base = "'base'";
      if (!(tag instanceof ObjMemberM) || this.tagName !== tag.name) {
        throw schemaError(
          this.info,
          'bad-discriminator',
          `discriminator '${this.tagName}' is not a member of ${base}`,
        );
      }
      this.tagMember = tag;
      const baseType = schema.lookupType(tag.definedIn ?? '');
      if (baseType && !baseType.isImplicit()) base = `base type '${tag.definedIn}'`;
      const tagType = tag.type;
      if (!(tagType instanceof EnumE)) {
        throw schemaError(
          this.info,
          'bad-discriminator',
          `discriminator member '${this.tagName}' of ${base} must be of enum type`,
        );
      }
      if (tag.optional) {
        throw schemaError(
          this.info,
          'bad-discriminator',
          `discriminator member '${this.tagName}' of ${base} must not be optional`,
        );
      }
      if (tag.ifcond !== undefined) {
        throw schemaError(
          this.info,
          'bad-discriminator',
          `discriminator member '${this.tagName}' of ${base} must not be conditional`,
        );
      }
      // Tag values without a listed branch get an implicit empty one.
      const cases = new Set(this.variants.map((v) => v.name));
      for (const m of tagType.members) {
        if (!cases.has(m.name)) {
          const v = new VariantM(m.name, this.info, 'q_empty', m.ifcond);
          v.setDefinedIn(tag.definedIn ?? '');
          this.variants.push(v);
        }
      }
    }
    if (this.variants.length === 0) {
      throw schemaError(this.info, 'union-no-branches', 'union has no branches');
    }
    const tagType = this.tagMember?.type;
    for (const v of this.variants) {
      v.check(schema);
      if (seen.size > 0 && tagType instanceof EnumE) {
        if (!tagType.members.some((m) => m.name === v.name)) {
          throw schemaError(
            this.info,
            'bad-branch',
            `branch '${v.name}' is not a value of ${tagType.describe()}`,
          );
        }
        const vt = v.type;
        // 7.2 takes no union as a branch; 10.0 does (and checks its branches for clashes).
        if (!(vt instanceof ObjectE) || (vt.variants && schema.qemu === '7.2')) {
          throw schemaError(
            this.info,
            'bad-branch-type',
            `${v.describe(this.info, schema.qemu)} cannot use ${vt?.describe()}`,
          );
        }
        vt.check(schema);
      }
    }
  }

  checkClash(info: Pos | undefined, seen: Map<string, MemberBase>, qemu: QapiFrontEnd): void {
    for (const v of this.variants) {
      // Each branch may reuse names another branch uses: start from the base's members.
      (v.type as ObjectE).checkClash(info, new Map(seen), qemu);
    }
  }
}

abstract class EntityE {
  abstract readonly meta: string;
  checked = false;
  module: string | undefined;

  constructor(
    readonly name: string,
    readonly info: Pos | undefined,
    readonly doc: QapiDoc | undefined,
    readonly ifcond: QValue | undefined,
    readonly features: FeatureM[],
  ) {
    for (const f of features) f.setDefinedIn(name);
  }

  check(schema: SchemaBuilder): void {
    const seen = new Map<string, MemberBase>();
    for (const f of this.features) f.checkClash(this.info, seen, schema.qemu);
    this.checked = true;
  }

  connectDoc(doc?: QapiDoc): void {
    const d = doc ?? this.doc;
    if (d) for (const f of this.features) connectFeature(d, f);
  }

  checkDoc(): void {
    if (this.doc) checkDocArgs(this.doc);
  }

  moduleInfo(): Pos | undefined {
    return this.info;
  }

  isImplicit(): boolean {
    return !this.info;
  }

  describe(): string {
    return `${this.meta} '${this.name}'`;
  }
}

class IncludeE extends EntityE {
  readonly meta = 'include';
  constructor(
    readonly subModule: string,
    info: Pos,
  ) {
    super('', info, undefined, undefined, []);
  }
}

abstract class TypeE extends EntityE {
  abstract jsonType(): string | undefined;

  override check(schema: SchemaBuilder): void {
    super.check(schema);
    for (const f of this.features) {
      if (f.isSpecial()) {
        throw schemaError(
          this.info,
          'special-feature-on-type',
          `feature '${f.name}' is not supported for types`,
        );
      }
    }
  }

  override describe(): string {
    return `${this.meta} type '${this.name}'`;
  }

  alternateQtype(): string | undefined {
    switch (this.jsonType()) {
      case 'null':
        return 'QTYPE_QNULL';
      case 'string':
        return 'QTYPE_QSTRING';
      case 'number':
      case 'int':
        return 'QTYPE_QNUM';
      case 'boolean':
        return 'QTYPE_QBOOL';
      case 'array':
        return 'QTYPE_QLIST';
      case 'object':
        return 'QTYPE_QDICT';
      default:
        return undefined;
    }
  }
}

class BuiltinE extends TypeE {
  readonly meta = 'built-in';
  constructor(
    name: string,
    readonly json: JsonType,
  ) {
    super(name, undefined, undefined, undefined, []);
  }
  jsonType(): string {
    return this.json;
  }
}

class EnumE extends TypeE {
  readonly meta = 'enum';
  constructor(
    name: string,
    info: Pos | undefined,
    doc: QapiDoc | undefined,
    ifcond: QValue | undefined,
    features: FeatureM[],
    readonly members: EnumMemberM[],
    readonly prefix: string | undefined,
  ) {
    super(name, info, doc, ifcond, features);
    for (const m of members) m.setDefinedIn(name);
  }
  override check(schema: SchemaBuilder): void {
    super.check(schema);
    const seen = new Map<string, MemberBase>();
    for (const m of this.members) m.checkClash(this.info, seen, schema.qemu);
  }
  override connectDoc(doc?: QapiDoc): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    if (!d) return;
    for (const m of this.members) {
      connectMember(d, m);
      for (const f of m.features) connectFeature(d, f);
    }
  }
  override isImplicit(): boolean {
    return this.name === 'QType';
  }
  jsonType(): string {
    return 'string';
  }
}

class ArrayE extends TypeE {
  readonly meta = 'array';
  elementType: TypeE | undefined;
  constructor(
    name: string,
    info: Pos | undefined,
    readonly elementTypeName: string,
  ) {
    super(name, info, undefined, undefined, []);
  }
  override check(schema: SchemaBuilder): void {
    super.check(schema);
    this.elementType = schema.resolveType(
      this.elementTypeName,
      this.info,
      this.info?.defnMeta ?? 'array',
    );
  }
  override moduleInfo(): Pos | undefined {
    return this.elementType?.info;
  }
  override isImplicit(): boolean {
    return true;
  }
  jsonType(): string {
    return 'array';
  }
  override describe(): string {
    return `${this.meta} type ['${this.elementTypeName}']`;
  }
}

class ObjectE extends TypeE {
  readonly meta: string;
  base: ObjectE | undefined;
  members: MemberBase[] | undefined;

  constructor(
    name: string,
    info: Pos | undefined,
    doc: QapiDoc | undefined,
    ifcond: QValue | undefined,
    features: FeatureM[],
    readonly baseName: string | undefined,
    readonly localMembers: ObjMemberM[],
    readonly variants: VariantsM | undefined,
  ) {
    super(name, info, doc, ifcond, features);
    this.meta = variants ? 'union' : 'struct';
    for (const m of localMembers) m.setDefinedIn(name);
    variants?.setDefinedIn(name);
  }

  override check(schema: SchemaBuilder): void {
    if (this.members) return; // checked before
    if (this.checked) {
      throw schemaError(this.info, 'base-cycle', `object ${this.name} contains itself`);
    }
    super.check(schema);
    const seen = new Map<string, MemberBase>();
    if (this.baseName) {
      const base = schema.resolveType(this.baseName, this.info, "'base'");
      if (!(base instanceof ObjectE) || base.variants) {
        throw schemaError(
          this.info,
          'bad-base',
          `'base' requires a struct type, ${base.describe()} isn't`,
        );
      }
      this.base = base;
      base.check(schema);
      base.checkClash(this.info, seen, schema.qemu);
    }
    for (const m of this.localMembers) {
      m.check(schema);
      m.checkClash(this.info, seen, schema.qemu);
    }
    const members = [...seen.values()];
    if (this.variants) {
      this.variants.check(schema, seen);
      this.variants.checkClash(this.info, seen, schema.qemu);
    }
    this.members = members;
  }

  checkClash(info: Pos | undefined, seen: Map<string, MemberBase>, qemu: QapiFrontEnd): void {
    for (const m of this.members ?? []) m.checkClash(info, seen, qemu);
    this.variants?.checkClash(info, seen, qemu);
  }

  hasConditionalMembers(): boolean {
    return (this.members ?? []).some((m) => m.ifcond !== undefined);
  }

  override connectDoc(doc?: QapiDoc): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    if (this.base?.isImplicit()) this.base.connectDoc(d);
    if (!d) return;
    for (const m of this.localMembers) {
      connectMember(d, m);
      for (const f of m.features) connectFeature(d, f);
    }
  }

  override isImplicit(): boolean {
    return this.name.startsWith('q_');
  }

  jsonType(): string {
    return 'object';
  }
}

class AlternateE extends TypeE {
  readonly meta = 'alternate';
  constructor(
    name: string,
    info: Pos | undefined,
    doc: QapiDoc | undefined,
    ifcond: QValue | undefined,
    features: FeatureM[],
    readonly variants: VariantsM,
  ) {
    super(name, info, doc, ifcond, features);
    variants.setDefinedIn(name);
    variants.tagMember?.setDefinedIn(name);
  }

  override check(schema: SchemaBuilder): void {
    super.check(schema);
    this.variants.tagMember?.check(schema);
    this.variants.check(schema, new Map());
    const seen = new Map<string, MemberBase>();
    const typesSeen = new Map<string, string>();
    for (const v of this.variants.variants) {
      v.checkClash(this.info, seen, schema.qemu);
      const vt = v.type as TypeE;
      const qtype = vt.alternateQtype();
      if (!qtype) {
        throw schemaError(
          this.info,
          'bad-alternate-branch',
          `${v.describe(this.info, schema.qemu)} cannot use ${vt.describe()}`,
        );
      }
      const conflicting = new Set([qtype]);
      if (qtype === 'QTYPE_QSTRING') {
        if (vt instanceof EnumE) {
          for (const m of vt.members) {
            if (m.name === 'on' || m.name === 'off') conflicting.add('QTYPE_QBOOL');
            if (/^[-+0-9.]/.test(m.name)) conflicting.add('QTYPE_QNUM');
          }
        } else {
          conflicting.add('QTYPE_QNUM');
          conflicting.add('QTYPE_QBOOL');
        }
      }
      for (const qt of conflicting) {
        const other = typesSeen.get(qt);
        if (other !== undefined) {
          throw schemaError(
            this.info,
            'alternate-ambiguous',
            `${v.describe(this.info, schema.qemu)} can't be distinguished from '${other}'`,
          );
        }
        typesSeen.set(qt, v.name);
      }
    }
  }

  override connectDoc(doc?: QapiDoc): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    if (!d) return;
    for (const v of this.variants.variants) connectMember(d, v);
  }

  jsonType(): string {
    return 'value';
  }
}

class CommandE extends EntityE {
  readonly meta = 'command';
  argType: ObjectE | undefined;
  retType: TypeE | undefined;
  constructor(
    name: string,
    info: Pos,
    doc: QapiDoc | undefined,
    ifcond: QValue | undefined,
    features: FeatureM[],
    readonly argTypeName: string | undefined,
    readonly retTypeName: string | undefined,
    readonly flags: {
      gen: boolean;
      successResponse: boolean;
      boxed: boolean;
      allowOob: boolean;
      allowPreconfig: boolean;
      coroutine: boolean;
    },
  ) {
    super(name, info, doc, ifcond, features);
  }

  override check(schema: SchemaBuilder): void {
    super.check(schema);
    if (this.argTypeName) {
      const t = schema.resolveType(this.argTypeName, this.info, "command's 'data'");
      if (!(t instanceof ObjectE)) {
        throw schemaError(
          this.info,
          'bad-data-type',
          `command's 'data' cannot take ${t.describe()}`,
        );
      }
      if (t.variants && !this.flags.boxed) {
        throw schemaError(
          this.info,
          'bad-data-type',
          `command's 'data' can take ${t.describe()} only with 'boxed': true`,
        );
      }
      this.argType = t;
      if (schema.qemu !== '7.2') {
        t.check(schema);
        if (t.hasConditionalMembers() && !this.flags.boxed) {
          throw schemaError(
            this.info,
            'conditional-args',
            "conditional command arguments require 'boxed': true",
          );
        }
      }
    }
    if (this.retTypeName) {
      const t = schema.resolveType(this.retTypeName, this.info, "command's 'returns'");
      this.retType = t;
      if (!schema.pragma.commandReturnsExceptions.includes(this.name)) {
        const inner = t instanceof ArrayE ? t.elementType : t;
        if (!(inner instanceof ObjectE)) {
          throw schemaError(
            this.info,
            'bad-returns-type',
            `command's 'returns' cannot take ${t.describe()}`,
          );
        }
      }
    }
  }

  override connectDoc(doc?: QapiDoc): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    if (d && this.argType?.isImplicit()) this.argType.connectDoc(d);
  }
}

class EventE extends EntityE {
  readonly meta = 'event';
  argType: ObjectE | undefined;
  constructor(
    name: string,
    info: Pos,
    doc: QapiDoc | undefined,
    ifcond: QValue | undefined,
    features: FeatureM[],
    readonly argTypeName: string | undefined,
    readonly boxed: boolean,
  ) {
    super(name, info, doc, ifcond, features);
  }

  override check(schema: SchemaBuilder): void {
    super.check(schema);
    if (this.argTypeName) {
      const t = schema.resolveType(this.argTypeName, this.info, "event's 'data'");
      if (!(t instanceof ObjectE)) {
        throw schemaError(this.info, 'bad-data-type', `event's 'data' cannot take ${t.describe()}`);
      }
      if (t.variants && !this.boxed) {
        throw schemaError(
          this.info,
          'bad-data-type',
          `event's 'data' can take ${t.describe()} only with 'boxed': true`,
        );
      }
      this.argType = t;
      if (schema.qemu !== '7.2') {
        t.check(schema);
        if (t.hasConditionalMembers() && !this.boxed) {
          throw schemaError(
            this.info,
            'conditional-args',
            "conditional event arguments require 'boxed': true",
          );
        }
      }
    }
  }

  override connectDoc(doc?: QapiDoc): void {
    super.connectDoc(doc);
    const d = doc ?? this.doc;
    if (d && this.argType?.isImplicit()) this.argType.connectDoc(d);
  }
}

// --- doc connection (QAPIDoc.connect_member / connect_feature / check) ------------------------

function connectMember(doc: QapiDoc, member: MemberBase): void {
  let section = doc.args.get(member.name);
  if (!section) {
    // Undocumented member: QEMU 7.2 allows it and records an empty description; 10.0 only for
    // the definitions its pragma documentation-exceptions names.
    const pragma = doc.qemu10Pragma;
    if (pragma && !pragma.documentationExceptions.includes(doc.symbol ?? '')) {
      throw schemaError(
        member.info,
        'doc-undocumented-member',
        `${member.role} '${member.name}' lacks documentation`,
      );
    }
    section = new DocSection(member.name, 0, doc.info);
    doc.args.set(member.name, section);
  }
  section.connected = true;
}

function connectFeature(doc: QapiDoc, feature: FeatureM): void {
  const section = doc.features.get(feature.name);
  if (!section) {
    throw schemaError(
      feature.info,
      'doc-undocumented-feature',
      `feature '${feature.name}' lacks documentation`,
    );
  }
  section.connected = true;
}

function checkDocArgs(doc: QapiDoc): void {
  const check = (args: Map<string, DocSection>, what: string): void => {
    const bogus = [...args].filter(([, s]) => !s.connected).map(([n]) => n);
    if (bogus.length > 0) {
      const many = bogus.length > 1;
      // 10.0 reports it at the first bogus description, 7.2 at the comment.
      const where = doc.qemu10Pragma ? args.get(bogus[0] as string)?.info : doc.info;
      throw schemaError(
        where,
        'doc-bogus-member',
        `documented ${what}${many ? 's' : ''} '${bogus.join("', '")}' ${many ? 'do' : 'does'} not exist`,
      );
    }
  };
  check(doc.args, 'member');
  check(doc.features, 'feature');
}

// --- the builder --------------------------------------------------------------------------------

function str(v: QValue | undefined): string {
  return v as string;
}

function obj(v: QValue | undefined): QObject {
  return v as QObject;
}

class SchemaBuilder {
  readonly entities: EntityE[] = [];
  readonly byName = new Map<string, EntityE>();
  readonly moduleNames: string[] = [];
  private readonly schemaDir: string;
  private predefining = true;

  /** 10.0: every feature name in the schema, with where it was first used. */
  private readonly featureNames = new Map<string, Pos | undefined>([
    ['deprecated', undefined],
    ['unstable', undefined],
  ]);

  constructor(
    readonly rootFile: string,
    readonly pragma: PragmaState,
    readonly qemu: QapiFrontEnd,
  ) {
    this.schemaDir = posixDirname(rootFile);
    this.makeModule(BUILTIN_MODULE);
    this.makeModule(rootFile);
    this.defPredefineds();
    this.predefining = false;
  }

  private readonly moduleNameCache = new Map<string, string>();

  moduleName(file: string): string {
    let name = this.moduleNameCache.get(file);
    if (name === undefined) {
      // Like QEMU, a name starting with './' is taken as a system module's name as it is.
      name = file.startsWith('./')
        ? file
        : posixRelative(this.schemaDir === '' ? '.' : this.schemaDir, file);
      this.moduleNameCache.set(file, name);
    }
    return name;
  }

  makeModule(file: string): string {
    const name = this.moduleName(file);
    if (!this.moduleNames.includes(name)) this.moduleNames.push(name);
    return name;
  }

  defEntity(ent: EntityE): void {
    if (!ent.info && !this.predefining) throw new Error('only predefined entities lack info');
    this.entities.push(ent);
    if (ent instanceof IncludeE) return;
    const other = this.byName.get(ent.name);
    if (other) {
      if (other.info) {
        const o = other.info;
        throw schemaError(
          ent.info,
          'duplicate-definition',
          `'${ent.name}' is already defined\n${o.file}:${o.line}:${o.col}: previous definition`,
        );
      }
      throw schemaError(ent.info, 'duplicate-definition', `${other.describe()} is already defined`);
    }
    this.byName.set(ent.name, ent);
  }

  lookupType(name: string): TypeE | undefined {
    const ent = this.byName.get(name);
    return ent instanceof TypeE ? ent : undefined;
  }

  resolveType(
    name: string,
    info: Pos | undefined,
    what: string | ((info: Pos | undefined) => string),
  ): TypeE {
    const t = this.lookupType(name);
    if (!t) {
      const w = typeof what === 'function' ? what(info) : what;
      throw schemaError(info, 'unknown-type', `${w} uses unknown type '${name}'`);
    }
    return t;
  }

  private defPredefineds(): void {
    for (const [name, json] of BUILTINS) {
      this.defEntity(new BuiltinE(name, json));
      this.makeArrayType(name, undefined);
    }
    this.defEntity(
      new ObjectE('q_empty', undefined, undefined, undefined, [], undefined, [], undefined),
    );
    const qtypes = ['none', 'qnull', 'qnum', 'qstring', 'qdict', 'qlist', 'qbool'];
    this.defEntity(
      new EnumE(
        'QType',
        undefined,
        undefined,
        undefined,
        [],
        qtypes.map((n) => new EnumMemberM(n, undefined, undefined, [])),
        this.qemu === '7.2' ? 'QTYPE' : undefined,
      ),
    );
  }

  makeFeatures(features: QValue | undefined, info: Pos): FeatureM[] {
    if (!Array.isArray(features)) return [];
    for (const f of features) {
      const name = str(obj(f).get('name'));
      if (!this.featureNames.has(name)) this.featureNames.set(name, info);
    }
    return features.map((f) => new FeatureM(str(obj(f).get('name')), info, obj(f).get('if')));
  }

  makeArrayType(elementType: string, info: Pos | undefined): string {
    const name = `${elementType}List`;
    if (!this.lookupType(name)) this.defEntity(new ArrayE(name, info, elementType));
    return name;
  }

  makeImplicitObjectType(
    name: string,
    info: Pos,
    ifcond: QValue | undefined,
    role: string,
    members: ObjMemberM[],
  ): string | undefined {
    if (members.length === 0) return undefined;
    const typeName = `q_obj_${name}-${role}`;
    const existing = this.byName.get(typeName);
    // A second user of the same implicit name can only be a duplicate definition, which
    // defEntity reports for the definer itself.
    if (!(existing instanceof ObjectE)) {
      this.defEntity(
        new ObjectE(typeName, info, undefined, ifcond, [], undefined, members, undefined),
      );
    }
    return typeName;
  }

  makeMember(
    key: string,
    typ: QValue,
    ifcond: QValue | undefined,
    features: QValue | undefined,
    info: Pos,
  ): ObjMemberM {
    let name = key;
    let optional = false;
    if (name.startsWith('*')) {
      name = name.slice(1);
      optional = true;
    }
    const typeName = Array.isArray(typ) ? this.makeArrayType(str(typ[0]), info) : str(typ);
    return new ObjMemberM(
      name,
      info,
      typeName,
      optional,
      ifcond,
      this.makeFeatures(features, info),
    );
  }

  makeMembers(data: QObject, info: Pos): ObjMemberM[] {
    return [...data].map(([key, value]) => {
      const v = obj(value);
      return this.makeMember(key, v.get('type') as QValue, v.get('if'), v.get('features'), info);
    });
  }

  makeVariant(key: string, typ: QValue, ifcond: QValue | undefined, info: Pos): VariantM {
    const typeName = Array.isArray(typ) ? this.makeArrayType(str(typ[0]), info) : str(typ);
    return new VariantM(key, info, typeName, ifcond);
  }

  defExpr({ expr, info, doc }: ParsedExpr): void {
    if (expr.has('include')) {
      this.defEntity(new IncludeE(this.makeModule(str(expr.get('include'))), info));
      return;
    }
    const meta = metaOf(expr);
    const name = str(expr.get(meta));
    const ifcond = expr.get('if');
    const features = this.makeFeatures(expr.get('features'), info);
    switch (meta) {
      case 'enum': {
        const values = (expr.get('data') as QValue[]).map((v) => {
          const o = obj(v);
          return new EnumMemberM(
            str(o.get('name')),
            info,
            o.get('if'),
            this.makeFeatures(o.get('features'), info),
          );
        });
        const prefix = expr.get('prefix');
        this.defEntity(
          new EnumE(name, info, doc, ifcond, features, values, prefix as string | undefined),
        );
        return;
      }
      case 'struct': {
        if (typeof expr.get('data') === 'string') {
          // QEMU 7.2 crashes here; 8.1 reports it in its expression checks, in these words.
          throw schemaError(info, 'bad-type', "'data' should be an object");
        }
        const base = expr.get('base');
        const members = this.makeMembers(obj(expr.get('data')), info);
        this.defEntity(
          new ObjectE(
            name,
            info,
            doc,
            ifcond,
            features,
            base as string | undefined,
            members,
            undefined,
          ),
        );
        return;
      }
      case 'union': {
        let base = expr.get('base');
        if (base instanceof Map) {
          base = this.makeImplicitObjectType(
            name,
            info,
            ifcond,
            'base',
            this.makeMembers(base, info),
          );
        }
        const variants = [...obj(expr.get('data'))].map(([key, value]) =>
          this.makeVariant(key, obj(value).get('type') as QValue, obj(value).get('if'), info),
        );
        this.defEntity(
          new ObjectE(
            name,
            info,
            doc,
            ifcond,
            features,
            base as string | undefined,
            [],
            new VariantsM(str(expr.get('discriminator')), info, undefined, variants),
          ),
        );
        return;
      }
      case 'alternate': {
        const variants = [...obj(expr.get('data'))].map(([key, value]) =>
          this.makeVariant(key, obj(value).get('type') as QValue, obj(value).get('if'), info),
        );
        const tag = new ObjMemberM('type', info, 'QType', false, undefined, []);
        this.defEntity(
          new AlternateE(
            name,
            info,
            doc,
            ifcond,
            features,
            new VariantsM(undefined, info, tag, variants),
          ),
        );
        return;
      }
      case 'command': {
        let data = expr.get('data');
        let rets = expr.get('returns');
        if (data instanceof Map) {
          data = this.makeImplicitObjectType(
            name,
            info,
            ifcond,
            'arg',
            this.makeMembers(data, info),
          );
        }
        if (Array.isArray(rets)) rets = this.makeArrayType(str(rets[0]), info);
        this.defEntity(
          new CommandE(
            name,
            info,
            doc,
            ifcond,
            features,
            data as string | undefined,
            rets as string | undefined,
            {
              gen: expr.get('gen') ?? true,
              successResponse: expr.get('success-response') ?? true,
              boxed: expr.get('boxed') ?? false,
              allowOob: expr.get('allow-oob') ?? false,
              allowPreconfig: expr.get('allow-preconfig') ?? false,
              coroutine: expr.get('coroutine') ?? false,
            } as CommandE['flags'],
          ),
        );
        return;
      }
      case 'event': {
        let data = expr.get('data');
        if (data instanceof Map) {
          data = this.makeImplicitObjectType(
            name,
            info,
            ifcond,
            'arg',
            this.makeMembers(data, info),
          );
        }
        this.defEntity(
          new EventE(
            name,
            info,
            doc,
            ifcond,
            features,
            data as string | undefined,
            expr.get('boxed') === true,
          ),
        );
        return;
      }
    }
  }

  check(docs: readonly QapiDoc[]): void {
    for (const ent of this.entities) {
      try {
        ent.check(this);
      } catch (err) {
        // Base and branch chains are checked recursively, as QEMU does; a chain deep enough to
        // exhaust the stack is reported instead of crashing.
        if (err instanceof RangeError) {
          throw schemaError(ent.info, 'too-deep', `${ent.describe()} nests too deeply`);
        }
        throw err;
      }
      ent.connectDoc();
      if (this.qemu === '7.2') ent.checkDoc();
    }
    for (const ent of this.entities) {
      const info = ent.moduleInfo();
      ent.module = info ? this.moduleName(info.file) : BUILTIN_MODULE;
    }
    if (this.qemu === '7.2') return;
    // 10.0 checks the docs once every definition is connected, then its feature limit (a
    // feature is a bit in a 64-bit mask in the generated C).
    for (const doc of docs) checkDocArgs(doc);
    const features = [...this.featureNames.values()];
    if (features.length > 64) {
      throw schemaError(
        features[64],
        'too-many-features',
        'Maximum of 64 schema features is permitted',
      );
    }
  }
}

// --- conversion to the shared model -------------------------------------------------------------

function toIf(cond: QValue | undefined): IfCond | undefined {
  if (cond === undefined) return undefined;
  if (typeof cond === 'string') return cond;
  if (cond instanceof Map) {
    const [key, value] = [...cond][0] as [string, QValue];
    if (key === 'not') return { not: toIf(value) as IfCond };
    const operands = (value as QValue[]).map((c) => toIf(c) as IfCond);
    return key === 'all' ? { all: operands } : { any: operands };
  }
  throw new Error('unchecked condition');
}

function withIf<T extends object>(value: T, cond: QValue | undefined): T & { if?: IfCond } {
  const c = toIf(cond);
  return c === undefined ? value : { ...value, if: c };
}

function toFeatures(features: readonly FeatureM[]): Feature[] {
  return features.map((f) => withIf({ name: f.name }, f.ifcond));
}

function typeRef(t: TypeE | undefined): string {
  if (t instanceof ArrayE) return `[${t.elementTypeName}]`;
  return t?.name ?? '';
}

function toDoc(doc: QapiDoc): Doc {
  const record = (m: Map<string, DocSection>): Record<string, string> => {
    const out: Record<string, string> = Object.create(null);
    for (const [k, s] of m) out[k] = s.text;
    return out;
  };
  return {
    body: doc.body.text,
    members: record(doc.args),
    features: record(doc.features),
    sections: doc.sections.map((s) => ({ name: s.name ?? '', text: s.text })),
  };
}

const INT_KINDS = new Set<string>([
  'int',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'size',
]);

function definitionBase(
  ent: EntityE,
  docs: Map<QapiDoc, Doc>,
): { name: string; features: Feature[]; if?: IfCond; doc?: Doc; info?: ReturnType<Pos['toInfo']> } {
  const base: {
    name: string;
    features: Feature[];
    if?: IfCond;
    doc?: Doc;
    info?: ReturnType<Pos['toInfo']>;
  } = withIf({ name: ent.name, features: toFeatures(ent.features) }, ent.ifcond);
  if (ent.doc) {
    const d = docs.get(ent.doc);
    if (d) base.doc = d;
  }
  if (ent.info && !ent.isImplicit()) base.info = ent.info.toInfo();
  return base;
}

function toEntity(ent: EntityE, docs: Map<QapiDoc, Doc>): Entity | undefined {
  if (ent instanceof BuiltinE) {
    const b: BuiltinType = {
      ...definitionBase(ent, docs),
      kind: 'builtin',
      jsonType: ent.json,
      ...(INT_KINDS.has(ent.name) ? { intKind: ent.name as IntKind } : {}),
    };
    return b;
  }
  if (ent instanceof EnumE) {
    const values: EnumValue[] = ent.members.map((m) =>
      withIf({ name: m.name, features: toFeatures(m.features) }, m.ifcond),
    );
    const e: EnumType = {
      ...definitionBase(ent, docs),
      kind: 'enum',
      values,
      ...(ent.prefix !== undefined ? { prefix: ent.prefix } : {}),
      ...(ent.isImplicit() ? { implicit: true } : {}),
    };
    return e;
  }
  if (ent instanceof ObjectE) {
    const members: Member[] = ent.localMembers.map((m) =>
      withIf(
        {
          name: m.name,
          type: typeRef(m.type),
          optional: m.optional,
          features: toFeatures(m.features),
        },
        m.ifcond,
      ),
    );
    const o: ObjectType = {
      ...definitionBase(ent, docs),
      kind: 'object',
      ...(ent.base ? { base: ent.base.name } : {}),
      members,
      ...(ent.variants
        ? {
            variants: {
              tag: ent.variants.tagMember?.name ?? '',
              cases: ent.variants.variants.map(
                (v): Variant => withIf({ case: v.name, type: v.type?.name ?? '' }, v.ifcond),
              ),
            },
          }
        : {}),
      origin: ent.isImplicit() ? 'implicit' : ent.variants ? 'union' : 'struct',
    };
    return o;
  }
  if (ent instanceof AlternateE) {
    const branches: AlternateBranch[] = ent.variants.variants.map((v) =>
      withIf({ name: v.name, type: typeRef(v.type) }, v.ifcond),
    );
    const a: AlternateType = { ...definitionBase(ent, docs), kind: 'alternate', branches };
    return a;
  }
  if (ent instanceof CommandE) {
    const c: Command = {
      ...definitionBase(ent, docs),
      kind: 'command',
      ...(ent.argType ? { argType: ent.argType.name } : {}),
      ...(ent.retType ? { retType: typeRef(ent.retType) } : {}),
      ...ent.flags,
    };
    return c;
  }
  if (ent instanceof EventE) {
    const e: Event = {
      ...definitionBase(ent, docs),
      kind: 'event',
      ...(ent.argType ? { argType: ent.argType.name } : {}),
      boxed: ent.boxed,
    };
    return e;
  }
  return undefined;
}

function toSchema(b: SchemaBuilder, allDocs: readonly QapiDoc[]): Schema {
  const docs = new Map<QapiDoc, Doc>();
  const docBlocks: DocBlock[] = [];
  const freeDocs: { info: ReturnType<Pos['toInfo']>; text: string }[] = [];
  for (const d of allDocs) {
    const doc = toDoc(d);
    docs.set(d, doc);
    const info = d.info.toInfo();
    if (d.symbol === undefined) {
      docBlocks.push({ info, doc });
      freeDocs.push({ info, text: doc.body });
    } else {
      docBlocks.push({ info, symbol: d.symbol, doc });
    }
  }
  const modules = new Map<string, { entities: Entity[]; items: ModuleItem[] }>();
  for (const name of b.moduleNames) modules.set(name, { entities: [], items: [] });
  const types = new Map<string, TypeDef>();
  const commands = new Map<string, Command>();
  const events = new Map<string, Event>();
  for (const ent of b.entities) {
    const mod = modules.get(ent.module ?? BUILTIN_MODULE);
    if (!mod) throw new Error(`no module for ${ent.name}`);
    if (ent instanceof IncludeE) {
      mod.items.push({ kind: 'include', module: ent.subModule, info: (ent.info as Pos).toInfo() });
      continue;
    }
    if (ent instanceof ArrayE) {
      mod.items.push({
        kind: 'array',
        name: ent.name,
        elementType: ent.elementTypeName,
        ...(ent.info ? { info: ent.info.toInfo() } : {}),
      });
      continue;
    }
    const model = toEntity(ent, docs);
    if (!model) continue;
    mod.entities.push(model);
    mod.items.push({ kind: 'entity', name: model.name });
    if (model.kind === 'command') commands.set(model.name, model);
    else if (model.kind === 'event') events.set(model.name, model);
    else types.set(model.name, model);
  }
  const moduleList: Module[] = [...modules].map(([name, m]) => ({
    name,
    entities: m.entities,
    items: m.items,
  }));
  return {
    modules: moduleList,
    types,
    commands,
    events,
    pragma: {
      docRequired: b.pragma.docRequired,
      commandNameExceptions: [...b.pragma.commandNameExceptions],
      commandReturnsExceptions: [...b.pragma.commandReturnsExceptions],
      memberNameExceptions: [...b.pragma.memberNameExceptions],
    },
    freeDocs,
    docs: docBlocks,
  };
}

export interface ParseSchemaOptions {
  /**
   * Whose front-end rules apply: QEMU 7.2's scripts/qapi (the default) or 10.0's. A schema of
   * one release is generally invalid for the other's rules (e.g. 10.0's doc comments).
   */
  readonly qemu?: QapiFrontEnd;
}

/**
 * Parses and checks a QAPI schema: `rootFile` and every file it includes (include paths are
 * relative to the including file; each file is read once). `readFile` supplies a file's text and
 * throws when it cannot. Throws `QapiSchemaError` at the first problem, like QEMU's generator.
 */
export function parseSchema(
  rootFile: string,
  readFile: (path: string) => string,
  options: ParseSchemaOptions = {},
): Schema {
  const qemu = options.qemu ?? '7.2';
  const parsed = parseSchemaFiles(rootFile, readFile, qemu);
  checkExprs(parsed.exprs, parsed.pragma, qemu);
  const builder = new SchemaBuilder(rootFile, parsed.pragma, qemu);
  for (const e of parsed.exprs) builder.defExpr(e);
  builder.check(parsed.docs);
  return toSchema(builder, parsed.docs);
}
