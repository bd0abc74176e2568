// Which QEMU release's front-end rules (scripts/qapi/parser.py, expr.py, schema.py) a schema is
// checked by. The rules changed between 7.2 and 10.0 (doc comment syntax, type-name checks,
// conditional arguments, unions as branches, …), and a schema valid for one may be invalid for
// the other, so the caller says which one applies; nothing is guessed from the input.

export const QAPI_FRONT_ENDS = ['7.2', '10.0'] as const;
export type QapiFrontEnd = (typeof QAPI_FRONT_ENDS)[number];

export function isQapiFrontEnd(value: string): value is QapiFrontEnd {
  return (QAPI_FRONT_ENDS as readonly string[]).includes(value);
}
