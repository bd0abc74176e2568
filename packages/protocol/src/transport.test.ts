import { expect, test } from 'vitest';
import { CLIENT_CODEC, resolveCodec, SERVER_CODEC } from './transport.js';

test('codec presets and merging over the client preset', () => {
  expect(resolveCodec(undefined)).toEqual(CLIENT_CODEC);
  expect(resolveCodec('client')).toEqual(CLIENT_CODEC);
  expect(resolveCodec('server')).toEqual(SERVER_CODEC);
  expect(SERVER_CODEC).toEqual({
    decode: { mode: 'qemu-input' },
    encode: { style: 'qemu', memberOrder: 'qemu' },
    eol: '\r\n',
    flushAtEnd: false,
  });
  expect(resolveCodec({ decode: { mode: 'qemu-input', markFloats: true } })).toEqual({
    decode: { mode: 'qemu-input', markFloats: true },
    encode: { style: 'compact' },
    eol: '\n',
    flushAtEnd: true,
  });
});
