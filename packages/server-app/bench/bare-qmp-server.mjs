// The bench's partner: a bare Node QMP server — it greets, and answers every JSON object it reads
// with `{"return": {}}` (echoing the id), one write per reply as a minimal hand-written server
// does: no validation, no dispatch, no flow control. What a QMP server in Node costs at least;
// qmpkit-server is measured against it in the same run.
// Usage: node bare-qmp-server.mjs SOCKET_PATH (a line "listening" on stdout once it listens).
import { createServer } from 'node:net';

const path = process.argv[2];
const GREETING =
  '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n';

const server = createServer((socket) => {
  socket.setNoDelay(true);
  socket.write(GREETING);
  let pending = '';
  let depth = 0;
  let inString = false;
  let escaped = false;
  let start = 0;
  socket.setEncoding('utf8');
  socket.on('data', (chunk) => {
    // One scan for the ends of top-level objects (string-aware), as any JSON stream splitter does.
    const text = pending + chunk;
    start = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (inString) {
        if (escaped) escaped = false;
        else if (c === 0x5c) escaped = true;
        else if (c === 0x22) inString = false;
      } else if (c === 0x22) inString = true;
      else if (c === 0x7b) depth++;
      else if (c === 0x7d && --depth === 0) {
        const request = JSON.parse(text.slice(start, i + 1));
        socket.write(
          request.id === undefined
            ? '{"return": {}}\r\n'
            : `{"return": {}, "id": ${JSON.stringify(request.id)}}\r\n`,
        );
        start = i + 1;
      }
    }
    pending = text.slice(start);
  });
  socket.on('error', () => {});
});
server.listen(path, () => process.stdout.write('listening\n'));
const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
