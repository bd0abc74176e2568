import { expectTypeOf, test } from 'vitest';
import {
  classifyServerMessage,
  ExecuteError,
  type JsonValue,
  ProtocolError,
  type ProtocolErrorKind,
  type QapiErrorClass,
  type QmpEvent,
  type QmpSuccess,
  type Transport,
} from './index.js';
import { createLinkedPair } from './testing/index.js';

test('classifyServerMessage narrows by kind', () => {
  const m = classifyServerMessage(null);
  if (m.kind === 'event') expectTypeOf(m.message).toEqualTypeOf<QmpEvent>();
  if (m.kind === 'return') expectTypeOf(m.message).toEqualTypeOf<QmpSuccess>();
  if (m.kind === 'unknown') expectTypeOf(m.message).toEqualTypeOf<JsonValue>();
});

test('isInstance narrows unknown values', () => {
  const e: unknown = undefined;
  if (ProtocolError.isInstance(e)) expectTypeOf(e.kind).toEqualTypeOf<ProtocolErrorKind>();
  if (ExecuteError.isInstance(e)) expectTypeOf(e.desc).toEqualTypeOf<string>();
});

test('error classes are literal unions', () => {
  expectTypeOf<'GenericError'>().toExtend<QapiErrorClass>();
  // @ts-expect-error not a QEMU 7.2 error class
  const bad: QapiErrorClass = 'NoSuchClass';
  void bad;
});

test('both sides of the pair are Transports', () => {
  const [client, server] = createLinkedPair();
  expectTypeOf(client).toExtend<Transport>();
  expectTypeOf(server).toExtend<Transport>();
  expectTypeOf(client.onmessage).toEqualTypeOf<((message: JsonValue) => void) | undefined>();
});
