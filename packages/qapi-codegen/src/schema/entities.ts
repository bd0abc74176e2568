// The schema's entities while they are being checked (QEMU's QAPISchemaEntity and its subclasses
// in scripts/qapi/schema.py, 7.2 and 10.0 rules): members, features, branches, the definitions
// themselves with their check() and clash rules, and how their doc comments are connected.
// They are mutable until SchemaBuilder.check() has run; to-model.ts then converts them.

import { cName } from '../expr.js';
import type { QapiFrontEnd } from '../front-end.js';
import type { JsonType } from '../model.js';
import { DocSection, type QapiDoc } from '../qapi-doc.js';
import { type Pos, type PragmaState, type QValue, schemaError } from '../source.js';

/**
 * What an entity's check needs from the schema being built: the front-end rules, the pragmas,
 * and type lookup (SchemaBuilder provides it).
 */
export interface EntityScope {
  readonly qemu: QapiFrontEnd;
  readonly pragma: PragmaState;
  lookupType(name: string): TypeE | undefined;
  resolveType(
    name: string,
    info: Pos | undefined,
    what: string | ((info: Pos | undefined) => string),
  ): TypeE;
}

// --- internal entities (mutable while checking) -----------------------------------------------

export class MemberBase {
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

export class FeatureM extends MemberBase {
  override readonly role = 'feature';
  isSpecial(): boolean {
    return this.name === 'deprecated' || this.name === 'unstable';
  }
}

export class EnumMemberM extends MemberBase {
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

export class ObjMemberM extends MemberBase {
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

  check(schema: EntityScope): void {
    this.type = schema.resolveType(this.typeName, this.info, (i) => this.describe(i, schema.qemu));
    if (this.features.length === 0) return; // most members: no clash table to build
    const seen = new Map<string, MemberBase>();
    for (const f of this.features) f.checkClash(this.info, seen, schema.qemu);
  }
}

export class VariantM extends ObjMemberM {
  override readonly role = 'branch';
  constructor(name: string, info: Pos | undefined, typeName: string, ifcond: QValue | undefined) {
    super(name, info, typeName, false, ifcond, []);
  }
}

export class VariantsM {
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

  check(schema: EntityScope, seen: Map<string, MemberBase>): void {
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

export abstract class EntityE {
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

  check(schema: EntityScope): void {
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

export class IncludeE extends EntityE {
  readonly meta = 'include';
  constructor(
    readonly subModule: string,
    info: Pos,
  ) {
    super('', info, undefined, undefined, []);
  }
}

export abstract class TypeE extends EntityE {
  abstract jsonType(): string | undefined;

  override check(schema: EntityScope): void {
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

export class BuiltinE extends TypeE {
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

export class EnumE extends TypeE {
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
  override check(schema: EntityScope): void {
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

export class ArrayE extends TypeE {
  readonly meta = 'array';
  elementType: TypeE | undefined;
  constructor(
    name: string,
    info: Pos | undefined,
    readonly elementTypeName: string,
  ) {
    super(name, info, undefined, undefined, []);
  }
  override check(schema: EntityScope): void {
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

export class ObjectE extends TypeE {
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

  override check(schema: EntityScope): void {
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

export class AlternateE extends TypeE {
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

  override check(schema: EntityScope): void {
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

export class CommandE extends EntityE {
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

  override check(schema: EntityScope): void {
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

export class EventE extends EntityE {
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

  override check(schema: EntityScope): void {
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

export function checkDocArgs(doc: QapiDoc): void {
  const check = (args: Map<string, DocSection>, what: string): void => {
    let connected = true;
    args.forEach((s) => {
      if (!s.connected) connected = false;
    });
    if (connected) return; // nearly every doc: nothing to list
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
