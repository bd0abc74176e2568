// QEMU 7.2's runtime schema, as qmpkit-server hands it to the block layer and the server. Tests
// load it from @qmpkit/qapi-types; the package's own code never does (it is GPL).
import { qmpSchema, qmpSchemaExtras } from '@qmpkit/qapi-types/7.2';
import type { RuntimeSchema } from './schema.js';

export const qemuSchema: RuntimeSchema = { schema: qmpSchema, schemaExtras: qmpSchemaExtras };
