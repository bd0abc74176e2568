// The schema-file front end on QEMU 7.2's real schemas (qemu-data/qapi-corpus/schema), checked
// against what the real binaries report (qemu-data/qapi-corpus/introspect) and against the
// schema sources themselves.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import type { Schema } from '../src/model.js';
import { loadSchemaFile } from '../src/node/load-schema.js';

const corpus = fileURLToPath(new URL('../../../qemu-data/qapi-corpus/', import.meta.url));

const roots = {
  x86: `${corpus}schema/qemu-7.2/qapi/qapi-schema.json`,
  qsd: `${corpus}schema/qemu-7.2/storage-daemon/qapi/qapi-schema.json`,
  job: `${corpus}schema/job.json`,
};

function readJson(rel: string): unknown {
  return JSON.parse(readFileSync(`${corpus}${rel}`, 'utf8'));
}

function names(rel: string): string[] {
  return (readJson(rel) as { name: string }[]).map((c) => c.name);
}

/** Commands and events in the model's order (modules, then entities). */
function commandsAndEvents(schema: Schema): string[] {
  return schema.modules.flatMap((m) =>
    m.entities.filter((e) => e.kind === 'command' || e.kind === 'event').map((e) => e.name),
  );
}

/** The include targets a file names, in order. */
function includesOf(file: string): string[] {
  return [...readFileSync(file, 'utf8').matchAll(/^\{ 'include': '([^']+)' \}/gm)].map(
    (m) => m[1] as string,
  );
}

describe.each([
  ['x86', roots.x86, 'qemu-system-x86_64-7.2'],
  ['qsd', roots.qsd, 'qemu-storage-daemon-7.2'],
] as const)('QEMU 7.2 %s schema', (_label, root, binary) => {
  const schema = loadSchemaFile(root);

  test('contains every command the real binary has', () => {
    const real = names(`introspect/${binary}-commands.json`);
    const missing = real.filter((n) => !schema.commands.has(n));
    expect(missing).toEqual([]);
  });

  test("lists commands and events in the order the binary's query-qmp-schema does", () => {
    // The binary lists the commands and events compiled into it, in QAPI's visiting order.
    const introspected = (
      readJson(`introspect/${binary}.json`) as { name: string; 'meta-type': string }[]
    )
      .filter((e) => e['meta-type'] === 'command' || e['meta-type'] === 'event')
      .map((e) => e.name);
    const present = new Set(introspected);
    expect(commandsAndEvents(schema).filter((n) => present.has(n))).toEqual(introspected);
  });

  test('has the built-in module first, then the root file, then includes where first met', () => {
    const moduleNames = schema.modules.map((m) => m.name);
    expect(moduleNames.slice(0, 2)).toEqual(['./builtin', 'qapi-schema.json']);
    // A file's module is made where the file is first included (possibly from another file),
    // so the root's own include list need not be in module order; its first include is.
    const rootIncludes = includesOf(root);
    expect(moduleNames[2]).toBe(rootIncludes[0]);
    for (const inc of rootIncludes) expect(moduleNames).toContain(inc);
    expect(new Set(moduleNames).size).toBe(moduleNames.length);
  });

  test('the built-in module holds the builtins, q_empty and QType', () => {
    const builtin = schema.modules[0];
    expect(builtin?.entities.map((e) => e.name)).toEqual([
      'str',
      'number',
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
      'bool',
      'any',
      'null',
      'q_empty',
      'QType',
    ]);
  });
});

describe('job.json on its own', () => {
  const schema = loadSchemaFile(roots.job);
  const source = readFileSync(roots.job, 'utf8');

  test('has every command and event the file defines', () => {
    const commands = [...source.matchAll(/'command': '([^']+)'/g)].map((m) => m[1]);
    const events = [...source.matchAll(/'event': '([^']+)'/g)].map((m) => m[1]);
    expect([...schema.commands.keys()]).toEqual(commands);
    expect([...schema.events.keys()]).toEqual(events);
  });

  test('job-pause: inline arguments become q_obj_job-pause-arg, right before the command', () => {
    const cmd = schema.commands.get('job-pause');
    expect(cmd?.argType).toBe('q_obj_job-pause-arg');
    expect(cmd?.retType).toBeUndefined();
    expect(cmd).toMatchObject({
      gen: true,
      successResponse: true,
      boxed: false,
      allowOob: false,
      allowPreconfig: false,
      coroutine: false,
    });
    const arg = schema.types.get('q_obj_job-pause-arg');
    expect(arg).toMatchObject({
      kind: 'object',
      origin: 'implicit',
      members: [{ name: 'id', type: 'str', optional: false, features: [] }],
    });
    const entities = schema.modules[1]?.entities.map((e) => e.name) ?? [];
    expect(entities.indexOf('q_obj_job-pause-arg')).toBe(entities.indexOf('job-pause') - 1);
  });

  test('docs are attached: description, members and the Since section', () => {
    const doc = schema.commands.get('job-pause')?.doc;
    expect(doc?.body.startsWith('Pause an active job.')).toBe(true);
    expect(doc?.members.id).toBe('The job identifier.');
    expect(doc?.sections).toContainEqual({ name: 'Since', text: '3.0' });
    expect(schema.types.get('JobStatus')?.doc?.members.concluded).toContain('dismissed via');
  });

  test('JobStatus keeps the source order of its values', () => {
    const status = schema.types.get('JobStatus');
    expect(status?.kind === 'enum' && status.values.map((v) => v.name)).toEqual([
      'undefined',
      'created',
      'running',
      'paused',
      'ready',
      'standby',
      'waiting',
      'pending',
      'aborting',
      'concluded',
      'null',
    ]);
    expect(status?.info).toEqual({ file: roots.job, line: 70, col: 1 });
  });
});
