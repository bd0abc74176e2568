import type { RuntimeSchema } from '../src/schema.js';
export declare const qemuSchema: RuntimeSchema;
