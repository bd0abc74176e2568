/** How the server writes QMP: QEMU's JSON style and member order, one message per CRLF line. */

/** encodeJson options that print what QEMU prints. */
export const QEMU_WIRE_ENCODING = { style: 'qemu', memberOrder: 'qemu' } as const;

/** What ends every message the server writes (QEMU's monitor writes CRLF). */
export const QMP_LINE_END = '\r\n';
