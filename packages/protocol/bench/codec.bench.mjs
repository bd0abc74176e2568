// Codec throughput on a stream of typical `query-jobs` replies, compared with JSON.parse on the
// same replies pre-split into lines. Run after `pnpm build` (imports dist/).
// Prints one line per figure: `name: value unit`.
import { encodeJson, JsonStreamer } from '../dist/index.js';

const TYPES = ['mirror', 'commit', 'stream', 'backup', 'create'];
const STATUSES = ['running', 'paused', 'ready', 'concluded', 'pending'];

function reply(n) {
  const jobs = [];
  for (let j = 0; j < 4; j++) {
    const total = 10737418240 + n * 4096 + j;
    const job = {
      'current-progress': Math.floor(total / (j + 2)),
      status: STATUSES[(n + j) % STATUSES.length],
      'total-progress': total,
      type: TYPES[(n + j) % TYPES.length],
      id: `job-${n}-${j}`,
    };
    if (j === 3) job.error = 'Input/output error';
    jobs.push(job);
  }
  return { return: jobs, id: n };
}

const MESSAGES = 20_000;
const lines = [];
for (let n = 0; n < MESSAGES; n++) lines.push(encodeJson(reply(n), { style: 'qemu' }));
const text = lines.map((l) => `${l}\r\n`).join('');
const bytes = new TextEncoder().encode(text);
const CHUNK = 64 * 1024;
const chunks = [];
for (let i = 0; i < bytes.length; i += CHUNK) chunks.push(bytes.subarray(i, i + CHUNK));

function timeIt(fn) {
  // Warm up, then take the best of several runs.
  fn();
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < 5; r++) {
    const t0 = process.hrtime.bigint();
    fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best;
}

let sink = 0;
const streamerSeconds = timeIt(() => {
  const s = new JsonStreamer({ mode: 'strict' });
  for (const chunk of chunks) {
    s.push(chunk);
    for (let item = s.next(); item !== undefined; item = s.next()) sink++;
  }
});
const qemuSeconds = timeIt(() => {
  const s = new JsonStreamer({ mode: 'qemu-input' });
  for (const chunk of chunks) {
    s.push(chunk);
    for (let item = s.next(); item !== undefined; item = s.next()) sink++;
  }
});
const jsonParseSeconds = timeIt(() => {
  for (const line of lines) sink += JSON.parse(line) ? 1 : 0;
});
const values = lines.map((l) => JSON.parse(l));
const encodeCompactSeconds = timeIt(() => {
  for (const v of values) sink += encodeJson(v).length;
});
const encodeQemuSeconds = timeIt(() => {
  for (const v of values) sink += encodeJson(v, { style: 'qemu', memberOrder: 'qemu' }).length;
});

const mb = bytes.length / 1e6;
const line = (name, value, unit) => console.log(`${name}: ${value} ${unit}`);
line('stream size', mb.toFixed(2), 'MB');
line('decode strict throughput', (mb / streamerSeconds).toFixed(1), 'MB/s');
line('decode strict rate', Math.round(MESSAGES / streamerSeconds), 'messages/s');
line('decode qemu-input throughput', (mb / qemuSeconds).toFixed(1), 'MB/s');
line('decode qemu-input rate', Math.round(MESSAGES / qemuSeconds), 'messages/s');
line('JSON.parse (pre-split lines) throughput', (mb / jsonParseSeconds).toFixed(1), 'MB/s');
line('JSON.parse (pre-split lines) rate', Math.round(MESSAGES / jsonParseSeconds), 'messages/s');
line('decode strict / JSON.parse', (jsonParseSeconds / streamerSeconds).toFixed(2), 'ratio');
line('encode compact rate', Math.round(MESSAGES / encodeCompactSeconds), 'messages/s');
line('encode qemu (hash order) rate', Math.round(MESSAGES / encodeQemuSeconds), 'messages/s');
if (sink < 0) console.log(sink);
