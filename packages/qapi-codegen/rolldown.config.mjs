// The qapi-codegen command as one CommonJS file (dist/bin/qapi-codegen.cjs), built from tsc's
// output. A run of the command is a short process, and node's start-up is a large part of it:
// one CommonJS file spares node its ES module loader and the resolution of a dozen modules
// (about 4 % of a whole run on QEMU's schema, measured with callgrind; see bench/).
import { defineConfig } from 'rolldown';

export default defineConfig({
  input: 'dist/bin/qapi-codegen.js',
  platform: 'node',
  output: {
    file: 'dist/bin/qapi-codegen.bundle.cjs',
    format: 'cjs',
    // tsc's output is module code, which is strict; keep it so in the bundle.
    intro: "'use strict';",
  },
});
