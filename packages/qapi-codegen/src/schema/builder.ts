// Builds the schema's entities from the checked expressions, as QEMU's QAPISchema does
// (scripts/qapi/schema.py): predefined built-in types, one entity per definition plus the
// implicit object and array types QEMU makes, modules, then every entity checked in definition
// order with its doc comment.

import { metaOf } from '../expr.js';
import type { QapiFrontEnd } from '../front-end.js';
import type { JsonType } from '../model.js';
import { type ParsedExpr, posixDirname, posixRelative } from '../parser.js';
import type { QapiDoc } from '../qapi-doc.js';
import {
  longFormGet,
  type Pos,
  type PragmaState,
  type QObject,
  type QValue,
  schemaError,
} from '../source.js';
import {
  AlternateE,
  ArrayE,
  BuiltinE,
  CommandE,
  checkDocArgs,
  type EntityE,
  type EntityScope,
  EnumE,
  EnumMemberM,
  EventE,
  FeatureM,
  IncludeE,
  ObjectE,
  ObjMemberM,
  TypeE,
  VariantM,
  VariantsM,
} from './entities.js';

export const BUILTIN_MODULE = './builtin';

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

// --- the builder --------------------------------------------------------------------------------

function str(v: QValue | undefined): string {
  return v as string;
}

function obj(v: QValue | undefined): QObject {
  return v as QObject;
}

export class SchemaBuilder implements EntityScope {
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
    return features.map((f) => {
      const name = str(longFormGet(f, 'name', 'name'));
      if (!this.featureNames.has(name)) this.featureNames.set(name, info);
      return new FeatureM(name, info, longFormGet(f, 'if', 'name'));
    });
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
    const members: ObjMemberM[] = [];
    data.forEach((v, key) => {
      const type = longFormGet(v, 'type', 'type') as QValue;
      const features = longFormGet(v, 'features', 'type');
      members.push(this.makeMember(key, type, longFormGet(v, 'if', 'type'), features, info));
    });
    return members;
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
        const values = (expr.get('data') as QValue[]).map(
          (v) =>
            new EnumMemberM(
              str(longFormGet(v, 'name', 'name')),
              info,
              longFormGet(v, 'if', 'name'),
              this.makeFeatures(longFormGet(v, 'features', 'name'), info),
            ),
        );
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
          this.makeVariant(
            key,
            longFormGet(value, 'type', 'type') as QValue,
            longFormGet(value, 'if', 'type'),
            info,
          ),
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
          this.makeVariant(
            key,
            longFormGet(value, 'type', 'type') as QValue,
            longFormGet(value, 'if', 'type'),
            info,
          ),
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
