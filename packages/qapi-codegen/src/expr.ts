// Context-free checks of each top-level expression, as QEMU 7.2's scripts/qapi/expr.py does them:
// meta keys, required and allowed keys, value shapes, names, `if`, `features`, flags, and the
// pairing of definition docs with definitions. Sugared forms stay as written (a member
// `'name': 'T'` is the short form of `{ 'type': 'T' }`, an enum value `'v'` of `{ 'name': 'v' }`,
// …; `longFormGet` reads both), so that a schema's thousands of them cost no object each.
// With the QEMU 10.0 front end, the shape checks of type references are 10.0's (one check per
// kind of reference, with its own message: a struct's 'data' must be an object, a union branch a
// type name, …), and so are the doc checks of Returns and Errors sections.

import type { QapiFrontEnd } from './front-end.js';
import type { ParsedExpr } from './parser.js';
import type { QapiDoc } from './qapi-doc.js';
import {
  longFormGet,
  type Pos,
  type PragmaState,
  type QObject,
  type QValue,
  schemaError,
} from './source.js';

export const META_KEYS = ['enum', 'struct', 'union', 'alternate', 'command', 'event'] as const;
export type Meta = (typeof META_KEYS)[number];

const VALID_NAME = /^(__[a-z0-9.-]+_)?(x-)?([a-z][a-z0-9_-]*)$/i;

/** The key lists of members, branches and features (shared: checked once per member). */
const KEYS = {
  type: ['type'],
  name: ['name'],
  if: ['if'],
  ifFeatures: ['if', 'features'],
} as const;

/** QEMU's c_name() without keyword protection: every character outside [A-Za-z0-9_] becomes _. */
export function cName(name: string): string {
  // Most names need no change; only those with another character go through the replace.
  for (let i = 0; i < name.length; i++) {
    if (!isCNameChar(name.charCodeAt(i))) return name.replace(/[^A-Za-z0-9_]/g, '_');
  }
  return name;
}

function isAlnum(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return isCNameChar(c) && c !== 95;
}

/** [A-Za-z0-9_] */
function isCNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95 /* _ */;
}

function isObject(v: QValue | undefined): v is QObject {
  return v instanceof Map;
}

/** Python's truthiness of a parsed value (QEMU tests flags and values with it). */
function truthy(v: QValue | undefined): boolean {
  if (v === undefined || v === false || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  return true;
}

class ExprChecker {
  constructor(
    private readonly info: Pos,
    private readonly pragma: PragmaState,
    private readonly qemu: QapiFrontEnd,
  ) {}

  fail(rule: string, reason: string): never {
    throw schemaError(this.info, rule, reason);
  }

  checkNameIsStr(name: QValue | undefined, source: string): asserts name is string {
    if (typeof name !== 'string') this.fail('name-not-string', `${source} requires a string name`);
  }

  /** Returns the stem of a valid name (the name without `__RFQDN_` and `x-`). */
  checkNameStr(name: string, source: string): string {
    const m = VALID_NAME.exec(name);
    // cName(name) starts with 'q_': a 'q' then a character cName turns into '_' (or '_').
    if (!m || (name.charCodeAt(0) === 113 /* q */ && name.length > 1 && !isAlnum(name, 1)))
      this.fail('invalid-name', `${source} has an invalid name`);
    return m[3] as string;
  }

  checkNameUpper(name: string, source: string): void {
    const stem = this.checkNameStr(name, source);
    if (/[a-z-]/.test(stem)) {
      this.fail('name-case', `name of ${source} must not use lowercase or '-'`);
    }
  }

  checkNameLower(
    name: string,
    source: string,
    permitUpper = false,
    permitUnderscore = false,
  ): void {
    const stem = this.checkNameStr(name, source);
    if ((!permitUpper && /[A-Z]/.test(stem)) || (!permitUnderscore && stem.includes('_'))) {
      this.fail('name-case', `name of ${source} must not use uppercase or '_'`);
    }
  }

  checkNameCamel(name: string, source: string): void {
    const stem = this.checkNameStr(name, source);
    if (!/^[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$/.test(stem)) {
      this.fail('name-case', `name of ${source} must use CamelCase`);
    }
  }

  checkDefnNameStr(name: string, meta: Meta): void {
    if (meta === 'event') {
      this.checkNameUpper(name, meta);
    } else if (meta === 'command') {
      this.checkNameLower(name, meta, false, this.pragma.commandNameExceptions.includes(name));
    } else {
      this.checkNameCamel(name, meta);
      if (name.endsWith('List')) {
        this.fail('reserved-name', `${meta} name should not end in 'List'`);
      }
    }
  }

  checkKeys(
    value: QObject,
    source: string,
    required: readonly string[],
    optional: readonly string[],
  ): void {
    // Checked without allocating first: nearly every expression passes.
    let ok = true;
    for (const k of required) if (!value.has(k)) ok = false;
    value.forEach((_, k) => {
      if (!required.includes(k) && !optional.includes(k)) ok = false;
    });
    if (ok) return;
    const list = (keys: Iterable<string>): string =>
      [...keys]
        .sort()
        .map((k) => `'${k}'`)
        .join(', ');
    const missing = required.filter((k) => !value.has(k));
    if (missing.length > 0) {
      this.fail(
        'missing-key',
        `${source} misses key${missing.length > 1 ? 's' : ''} ${list(missing)}`,
      );
    }
    const allowed = new Set([...required, ...optional]);
    const unknown = [...value.keys()].filter((k) => !allowed.has(k));
    if (unknown.length > 0) {
      this.fail(
        'unknown-key',
        `${source} has unknown key${unknown.length > 1 ? 's' : ''} ${list(unknown)}\n` +
          `Valid keys are ${list(allowed)}.`,
      );
    }
  }

  checkFlags(expr: QObject): void {
    for (const key of ['gen', 'success-response']) {
      if (expr.has(key) && expr.get(key) !== false) {
        this.fail('flag-value', `flag '${key}' may only use false value`);
      }
    }
    for (const key of ['boxed', 'allow-oob', 'allow-preconfig', 'coroutine']) {
      if (expr.has(key) && expr.get(key) !== true) {
        this.fail('flag-value', `flag '${key}' may only use true value`);
      }
    }
    if (expr.has('allow-oob') && expr.has('coroutine')) {
      this.fail('flag-conflict', "flags 'allow-oob' and 'coroutine' are incompatible");
    }
  }

  checkIf(expr: QObject, source: string): void {
    const checkCond = (cond: QValue): void => {
      if (typeof cond === 'string') {
        if (!/^[A-Z][A-Z0-9_]*$/.test(cond)) {
          this.fail('bad-if', `'if' condition '${cond}' of ${source} is not a valid identifier`);
        }
        return;
      }
      if (!isObject(cond)) {
        this.fail('bad-if', `'if' condition of ${source} must be a string or an object`);
      }
      this.checkKeys(cond, `'if' condition of ${source}`, [], ['all', 'any', 'not']);
      if (cond.size !== 1) this.fail('bad-if', `'if' condition of ${source} has conflicting keys`);
      if (cond.has('not')) {
        checkCond(cond.get('not') as QValue);
      } else {
        const operator = cond.has('all') ? 'all' : 'any';
        const operands = cond.get(operator) as QValue;
        if (!Array.isArray(operands)) {
          this.fail('bad-if', `'${operator}' condition of ${source} must be an array`);
        }
        if (operands.length === 0) this.fail('bad-if', `'if' condition [] of ${source} is useless`);
        for (const operand of operands) checkCond(operand);
      }
    };
    const cond = expr.get('if');
    if (cond === undefined) return;
    checkCond(cond);
  }

  checkType(
    value: QValue | undefined,
    source: string,
    allowArray = false,
    allowDict: boolean | string = false,
  ): void {
    if (value === undefined || typeof value === 'string') return;
    if (Array.isArray(value)) {
      if (!allowArray) this.fail('bad-type', `${source} cannot be an array`);
      if (value.length !== 1 || typeof value[0] !== 'string') {
        this.fail('bad-type', `${source}: array type must contain single type name`);
      }
      return;
    }
    if (allowDict === false) this.fail('bad-type', `${source} should be a type name`);
    this.checkImplicitMembers(value, source, typeof allowDict === 'string' ? allowDict : undefined);
  }

  /**
   * An implicit struct's members (a dict in place of a type name). Their names may break the
   * naming rules when `parentName` is in the pragma member-name-exceptions.
   */
  checkImplicitMembers(
    value: QValue | undefined,
    source: string,
    parentName: string | undefined,
  ): void {
    if (!isObject(value)) this.fail('bad-type', `${source} should be an object or type name`);
    const permissive =
      parentName !== undefined && this.pragma.memberNameExceptions.includes(parentName);
    value.forEach((arg, rawKey) => {
      const keySource = `${source} member '${rawKey}'`;
      const key = rawKey.startsWith('*') ? rawKey.slice(1) : rawKey;
      this.checkNameLower(key, keySource, permissive, permissive);
      const c = cName(key);
      if (c === 'u' || c.startsWith('has_'))
        this.fail('reserved-name', `${keySource} uses reserved name`);
      // The short form `'name': T` is `{ 'type': T }`, which has nothing more to check.
      if (isObject(arg)) {
        this.checkKeys(arg, keySource, KEYS.type, KEYS.ifFeatures);
        this.checkIf(arg, keySource);
        this.checkFeatures(arg.get('features'));
      }
      const type = longFormGet(arg, 'type', 'type');
      if (this.qemu === '7.2') this.checkType(type, keySource, true);
      else this.checkTypeNameOrArray(type, keySource);
    });
  }

  // QEMU 10.0's checks of type references (check_type_name and friends).

  checkTypeName(value: QValue | undefined, source: string): void {
    if (value !== undefined && typeof value !== 'string') {
      this.fail('bad-type', `${source} should be a type name`);
    }
  }

  checkTypeNameOrArray(value: QValue | undefined, source: string): void {
    if (value === undefined || typeof value === 'string') return;
    if (!Array.isArray(value)) this.fail('bad-type', `${source} should be a type name or array`);
    if (value.length !== 1 || typeof value[0] !== 'string') {
      this.fail('bad-type', `${source}: array type must contain single type name`);
    }
  }

  checkTypeImplicit(value: QValue | undefined, source: string, parentName?: string): void {
    if (value === undefined) return;
    this.checkImplicitMembers(value, source, parentName);
  }

  checkTypeNameOrImplicit(value: QValue | undefined, source: string, parentName?: string): void {
    if (value === undefined || typeof value === 'string') return;
    this.checkImplicitMembers(value, source, parentName);
  }

  checkFeatures(features: QValue | undefined): void {
    if (features === undefined) return;
    if (!Array.isArray(features)) this.fail('bad-features', "'features' must be an array");
    for (const feat of features) {
      let source = "'features' member";
      if (isObject(feat)) this.checkKeys(feat, source, KEYS.name, KEYS.if);
      const name = longFormGet(feat, 'name', 'name');
      this.checkNameIsStr(name, source);
      source = `${source} '${name}'`;
      this.checkNameLower(name, source);
      if (isObject(feat)) this.checkIf(feat, source);
    }
  }

  checkEnum(expr: QObject): void {
    const name = expr.get('enum') as string;
    const members = expr.get('data');
    const prefix = expr.get('prefix');
    if (!Array.isArray(members)) this.fail('bad-data', "'data' must be an array");
    if (prefix !== undefined && typeof prefix !== 'string') {
      this.fail('bad-prefix', "'prefix' must be a string");
    }
    const permissive = this.pragma.memberNameExceptions.includes(name);
    for (const member of members) {
      let source = "'data' member";
      if (isObject(member)) this.checkKeys(member, source, KEYS.name, KEYS.ifFeatures);
      const memberName = longFormGet(member, 'name', 'name');
      this.checkNameIsStr(memberName, source);
      source = `${source} '${memberName}'`;
      // Enum values may start with a digit: hide it from the name check.
      const c0 = memberName.charCodeAt(0);
      const checked = c0 >= 48 && c0 <= 57 ? `d${memberName}` : memberName;
      this.checkNameLower(checked, source, permissive, permissive);
      if (isObject(member)) {
        this.checkIf(member, source);
        this.checkFeatures(member.get('features'));
      }
    }
  }

  checkStruct(expr: QObject): void {
    const name = expr.get('struct') as string;
    if (this.qemu !== '7.2') {
      this.checkTypeImplicit(expr.get('data'), "'data'", name);
      this.checkTypeName(expr.get('base'), "'base'");
      return;
    }
    // A type name passes here, as in QEMU 7.2; the schema builder rejects it later, at the
    // point where 7.2 crashes on it, so that every other error is reported as 7.2 reports it.
    this.checkType(expr.get('data'), "'data'", false, name);
    this.checkType(expr.get('base'), "'base'");
  }

  checkUnion(expr: QObject): void {
    const name = expr.get('union') as string;
    const base = expr.get('base');
    const discriminator = expr.get('discriminator');
    const members = expr.get('data');
    if (this.qemu === '7.2') this.checkType(base, "'base'", false, name);
    else this.checkTypeNameOrImplicit(base, "'base'", name);
    this.checkNameIsStr(discriminator, "'discriminator'");
    if (!isObject(members)) this.fail('bad-data', "'data' must be an object");
    for (const [key, value] of members) {
      const source = `'data' member '${key}'`;
      if (isObject(value)) {
        this.checkKeys(value, source, KEYS.type, KEYS.if);
        this.checkIf(value, source);
      }
      const type = longFormGet(value, 'type', 'type');
      if (this.qemu === '7.2') this.checkType(type, source, !truthy(base));
      else this.checkTypeName(type, source);
    }
  }

  checkAlternate(expr: QObject): void {
    const members = expr.get('data');
    if (!truthy(members)) {
      this.fail('bad-data', "'data' must not be empty");
    }
    if (!isObject(members)) this.fail('bad-data', "'data' must be an object");
    for (const [key, value] of members) {
      const source = `'data' member '${key}'`;
      this.checkNameLower(key, source);
      if (isObject(value)) {
        this.checkKeys(value, source, KEYS.type, KEYS.if);
        this.checkIf(value, source);
      }
      const type = longFormGet(value, 'type', 'type');
      if (this.qemu === '7.2') this.checkType(type, source, true);
      else this.checkTypeNameOrArray(type, source);
    }
  }

  checkCommand(expr: QObject): void {
    const args = expr.get('data');
    const rets = expr.get('returns');
    const boxed = truthy(expr.get('boxed'));
    this.checkArgs(args, boxed);
    if (this.qemu === '7.2') this.checkType(rets, "'returns'", true);
    else this.checkTypeNameOrArray(rets, "'returns'");
  }

  /** A command's or event's 'data'. */
  checkArgs(args: QValue | undefined, boxed: boolean): void {
    if (boxed && args === undefined) {
      this.fail('boxed-without-data', "'boxed': true requires 'data'");
    }
    if (this.qemu === '7.2') this.checkType(args, "'data'", false, !boxed);
    else if (boxed) this.checkTypeName(args, "'data'");
    else this.checkTypeNameOrImplicit(args, "'data'");
  }

  checkEvent(expr: QObject): void {
    const args = expr.get('data');
    this.checkArgs(args, truthy(expr.get('boxed')));
  }
}

/** QEMU 10.0's QAPIDoc.check_expr: where Returns and Errors sections may stand. */
function checkDocSections10(doc: QapiDoc, meta: Meta, expr: QObject): void {
  const returns = doc.section('Returns');
  const errors = doc.section('Errors');
  if (meta === 'command') {
    if (returns && !expr.has('returns')) {
      throw schemaError(
        returns.info,
        'doc-returns',
        "'Returns' section, but command doesn't return anything",
      );
    }
    return;
  }
  if (returns) {
    throw schemaError(returns.info, 'doc-returns', "'Returns' section is only valid for commands");
  }
  if (errors) {
    throw schemaError(errors.info, 'doc-errors', "'Errors' section is only valid for commands");
  }
}

/** Returns the definition's meta key, e.g. 'struct'. Only valid after checkExprs. */
export function metaOf(expr: QObject): Meta {
  for (const meta of META_KEYS) if (expr.has(meta)) return meta;
  throw new Error('expression without a meta key');
}

/** Checks and normalises every expression in place; throws on the first problem. */
export function checkExprs(
  exprs: readonly ParsedExpr[],
  pragma: PragmaState,
  qemu: QapiFrontEnd = '7.2',
): void {
  for (const { expr, info, doc } of exprs) {
    if (expr.has('include')) continue;
    const c: ExprChecker = new ExprChecker(info, pragma, qemu);
    const metas = META_KEYS.filter((m) => expr.has(m));
    if (metas.length !== 1) {
      c.fail(
        'meta-key',
        "expression must have exactly one key 'enum', 'struct', 'union', 'alternate', 'command', 'event'",
      );
    }
    const meta = metas[0] as Meta;
    const name = expr.get(meta);
    c.checkNameIsStr(name, `'${meta}'`);
    info.defnMeta = meta;
    info.defnName = name;
    c.checkDefnNameStr(name, meta);
    if (doc) {
      if (doc.symbol !== name) c.fail('doc-symbol', `documentation comment is for '${doc.symbol}'`);
      if (qemu !== '7.2') {
        checkDocSections10(doc, meta, expr);
      } else if (doc.hasSection('Returns') && meta !== 'command') {
        throw schemaError(doc.info, 'doc-returns', "'Returns:' is only valid for commands");
      }
    } else if (pragma.docRequired) {
      c.fail('doc-required', 'documentation comment required');
    }
    switch (meta) {
      case 'enum':
        c.checkKeys(expr, meta, ['enum', 'data'], ['if', 'features', 'prefix']);
        c.checkEnum(expr);
        break;
      case 'union':
        c.checkKeys(expr, meta, ['union', 'base', 'discriminator', 'data'], ['if', 'features']);
        c.checkUnion(expr);
        break;
      case 'alternate':
        c.checkKeys(expr, meta, ['alternate', 'data'], ['if', 'features']);
        c.checkAlternate(expr);
        break;
      case 'struct':
        c.checkKeys(expr, meta, ['struct', 'data'], ['base', 'if', 'features']);
        c.checkStruct(expr);
        break;
      case 'command':
        c.checkKeys(
          expr,
          meta,
          ['command'],
          [
            'data',
            'returns',
            'boxed',
            'if',
            'features',
            'gen',
            'success-response',
            'allow-oob',
            'allow-preconfig',
            'coroutine',
          ],
        );
        c.checkCommand(expr);
        break;
      case 'event':
        c.checkKeys(expr, meta, ['event'], ['data', 'boxed', 'if', 'features']);
        c.checkEvent(expr);
        break;
    }
    c.checkIf(expr, meta);
    c.checkFeatures(expr.get('features'));
    c.checkFlags(expr);
  }
}
