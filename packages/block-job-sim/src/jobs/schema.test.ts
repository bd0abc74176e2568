import { qmpSchema, qmpSchemaExtras } from '@qmpkit/qapi-types/7.2';
import { describe, expect, test } from 'vitest';
import { withClockStepCommand } from './schema.js';

describe('withClockStepCommand', () => {
  test('adds the command and its {ns: int} argument type, keeping QEMU’s entries first', () => {
    const { schema, schemaExtras } = withClockStepCommand(qmpSchema, qmpSchemaExtras);
    expect(schema.slice(0, qmpSchema.length)).toEqual(qmpSchema);
    const command = schema.find((e) => e.name === 'x-qmpkit-clock-step');
    expect(command).toMatchObject({ 'meta-type': 'command' });
    // Returns {}: an empty object type of its own (QEMU's numbered names differ per version).
    const ret = schema.find((e) => e.name === (command as { 'ret-type': string })['ret-type']);
    expect(ret).toMatchObject({ 'meta-type': 'object', members: [] });
    expect(ret?.name).not.toMatch(/^\d+$/);
    const args = schema.find((e) => e.name === (command as { 'arg-type': string })['arg-type']);
    expect(args).toEqual({
      name: 'q_obj_x-qmpkit-clock-step-arg',
      'meta-type': 'object',
      members: [{ name: 'ns', type: 'int' }],
    });
    expect(schemaExtras.memberIntKinds).toBe(qmpSchemaExtras.memberIntKinds);
  });

  test('is idempotent, and refuses a schema without QEMU’s basic types', () => {
    const once = withClockStepCommand(qmpSchema, qmpSchemaExtras);
    const twice = withClockStepCommand(once.schema, once.schemaExtras);
    expect(twice.schema.length).toBe(once.schema.length);
    expect(() => withClockStepCommand([], qmpSchemaExtras)).toThrow(/'int' builtin/);
  });
});
