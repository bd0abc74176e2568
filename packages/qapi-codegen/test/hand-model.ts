// Small hand-built models for emitter tests that must not depend on a front end.
import type {
  BuiltinType,
  Command,
  Entity,
  Event,
  IntKind,
  JsonType,
  ObjectType,
  Schema,
  TypeDef,
} from '../src/model.js';

const builtin = (name: string, jsonType: JsonType, intKind?: IntKind): BuiltinType => ({
  name,
  kind: 'builtin',
  jsonType,
  features: [],
  ...(intKind === undefined ? {} : { intKind }),
});

export const BUILTINS: BuiltinType[] = [
  builtin('str', 'string'),
  builtin('number', 'number'),
  builtin('int', 'int', 'int'),
  builtin('int8', 'int', 'int8'),
  builtin('uint8', 'int', 'uint8'),
  builtin('uint64', 'int', 'uint64'),
  builtin('size', 'int', 'size'),
  builtin('bool', 'boolean'),
  builtin('null', 'null'),
  builtin('any', 'value'),
];

export const EMPTY: ObjectType = {
  name: 'q_empty',
  kind: 'object',
  members: [],
  features: [],
  origin: 'implicit',
};

export function command(name: string, fields: Partial<Command> = {}): Command {
  return {
    name,
    kind: 'command',
    features: [],
    boxed: false,
    gen: true,
    successResponse: true,
    allowOob: false,
    allowPreconfig: false,
    coroutine: false,
    ...fields,
  };
}

export function event(name: string, fields: Partial<Event> = {}): Event {
  return { name, kind: 'event', features: [], boxed: false, ...fields };
}

/** A schema of one module (after the built-in one) holding `entities` in order. */
export function makeSchema(entities: Entity[]): Schema {
  const types = new Map<string, TypeDef>();
  const commands = new Map<string, Command>();
  const events = new Map<string, Event>();
  for (const e of [...BUILTINS, EMPTY, ...entities]) {
    if (e.kind === 'command') commands.set(e.name, e);
    else if (e.kind === 'event') events.set(e.name, e);
    else types.set(e.name, e);
  }
  return {
    modules: [
      { name: './builtin', entities: [...BUILTINS, EMPTY] },
      { name: 'test.json', entities },
    ],
    types,
    commands,
    events,
    pragma: {
      docRequired: false,
      commandNameExceptions: [],
      commandReturnsExceptions: [],
      memberNameExceptions: [],
    },
    freeDocs: [],
  };
}

const m = (name: string, type: string, optional = false, extra: object = {}) => ({
  name,
  type,
  optional,
  features: [],
  ...extra,
});

/**
 * Shapes: an enum with a conditional value, a struct with a base and a `String` struct, a union
 * with an inline base, a listed branch and implicit empty branches, an alternate, an inline-args
 * command, a boxed-union command, a data-less event, and integer members of several widths.
 */
export function shapesSchema(): Schema {
  return makeSchema([
    {
      name: 'ShapeKind',
      kind: 'enum',
      features: [],
      values: [
        { name: 'circle', features: [] },
        { name: 'dot', features: [{ name: 'deprecated' }] },
        { name: 'rect', features: [], if: 'CONFIG_RECT' },
        { name: 'point', features: [] },
      ],
      doc: {
        body: 'The kind of a shape.',
        members: { circle: 'round, see @Circle' },
        features: {},
        sections: [{ name: 'Since', text: '7.2' }],
      },
    },
    {
      name: 'Named',
      kind: 'object',
      origin: 'struct',
      features: [],
      members: [m('name', 'str'), m('tag-list', '[str]', true)],
    },
    {
      name: 'Circle',
      kind: 'object',
      origin: 'struct',
      base: 'Named',
      features: [],
      members: [
        m('radius', 'uint8'),
        m('big', 'uint64', true, { features: [{ name: 'unstable' }] }),
      ],
    },
    {
      name: 'Rect',
      kind: 'object',
      origin: 'struct',
      features: [],
      if: 'CONFIG_RECT',
      members: [m('w', 'size'), m('h', '[int8]')],
    },
    {
      name: 'q_obj_Shape-base',
      kind: 'object',
      origin: 'implicit',
      features: [],
      members: [m('kind', 'ShapeKind'), m('label', 'str', true)],
    },
    {
      name: 'Shape',
      kind: 'object',
      origin: 'union',
      base: 'q_obj_Shape-base',
      features: [],
      members: [],
      variants: {
        tag: 'kind',
        cases: [
          { case: 'circle', type: 'Circle' },
          { case: 'rect', type: 'Rect', if: 'CONFIG_RECT' },
          { case: 'dot', type: 'q_empty' },
          { case: 'point', type: 'q_empty' },
        ],
      },
    },
    {
      name: 'String',
      kind: 'object',
      origin: 'struct',
      features: [],
      members: [m('str', 'str')],
    },
    {
      name: 'ShapeRef',
      kind: 'alternate',
      features: [],
      branches: [
        { name: 'inline', type: 'Shape' },
        { name: 'ref', type: 'str' },
        { name: 'none', type: 'null' },
      ],
    },
    {
      name: 'q_obj_draw-shape-arg',
      kind: 'object',
      origin: 'implicit',
      features: [],
      members: [m('shape', 'ShapeRef'), m('scale', 'number', true), m('extra', 'any', true)],
    },
    command('draw-shape', {
      argType: 'q_obj_draw-shape-arg',
      retType: '[String]',
      doc: {
        body: 'Draws a shape.',
        members: { shape: 'what to draw' },
        features: { unstable: 'still moving' },
        sections: [
          { name: 'Returns', text: 'names' },
          { name: 'Since', text: '1.0' },
        ],
      },
      features: [{ name: 'unstable' }],
    }),
    command('add-shape', { argType: 'Shape', boxed: true }),
    command('rect-only', { if: 'CONFIG_RECT', argType: 'Rect', allowOob: true }),
    command('device_add', { argType: 'Named', gen: false }),
    event('SHAPE_DRAWN', { argType: 'q_obj_SHAPE_DRAWN-arg' }),
    {
      name: 'q_obj_SHAPE_DRAWN-arg',
      kind: 'object',
      origin: 'implicit',
      features: [],
      members: [m('kind', 'ShapeKind')],
    },
    event('CANVAS_CLEARED'),
  ]);
}
