// `quit` with jobs running, on a real qemu-storage-daemon and on qmpkit-server: the daemon
// leaves its main loop and cancels every job before the monitor answers, so the client sees
// the jobs drained, cancelled and gone — then quit's reply, then EOF. Both daemons get the same
// command line and the same bytes; the transcripts are compared raw, timestamps and the version's
// package/micro normalised away. Expected values are whatever the real QEMU answers.
import { fileURLToPath } from 'node:url';
import { afterEach, expect, test } from 'vitest';
import { type ProcessDaemon, startDaemon, startQemuStorageDaemon } from '../src/daemon.js';
import { RawQmpSession } from '../src/raw-session.js';

const BIN = fileURLToPath(
  new URL('dist/bin/qmpkit-server.js', import.meta.resolve('@qmpkit/server-app/package.json')),
);
const GiB = 1024 * 1024 * 1024;
const BLOCKDEVS = [
  `null-co,node-name=src,size=${GiB}`,
  `null-co,node-name=dst,size=${GiB}`,
  `null-co,node-name=src2,size=${GiB}`,
  `null-co,node-name=dst2,size=${GiB}`,
];

const daemons: ProcessDaemon[] = [];
afterEach(async () => {
  await Promise.all(daemons.splice(0).map((d) => d.stop()));
});

function normalize(raw: string): string {
  return raw
    .replace(/"timestamp": \{"seconds": \d+, "microseconds": \d+\}/g, '"timestamp": <T>')
    .replace(
      /\{"qemu": \{"micro": \d+, "minor": (\d+), "major": (\d+)\}, "package": "[^"]*"\}/g,
      '{"qemu": {"micro": <M>, "minor": $1, "major": $2}, "package": <P>}',
    );
}

async function quitWithJobs(daemon: ProcessDaemon): Promise<{ lines: string[]; exitCode: number }> {
  const exited = new Promise<number>((resolve) =>
    daemon.process.once('exit', (code) => resolve(code ?? -1)),
  );
  const session = await RawQmpSession.connect(daemon.socketPath);
  try {
    await session.waitForCount(1);
    await session.negotiate();
    // Throttled to one byte a second: each job stays running until it is cancelled. Each start
    // is answered after its job's created/running events.
    const starts = [
      '{"execute":"blockdev-mirror","arguments":{"job-id":"m","device":"src","target":"dst","sync":"full","speed":1},"id":"m"}',
      '{"execute":"blockdev-backup","arguments":{"job-id":"b","device":"src2","target":"dst2","sync":"full","speed":1},"id":"b"}',
    ];
    for (const start of starts) {
      const id = JSON.parse(start).id as string;
      session.send(start);
      await session.waitFor((m) => (m as { id?: unknown }).id === id);
    }
    session.send('{"execute":"quit","id":"quit"}');
    await session.waitForClose();
    return { lines: session.messages.map((m) => normalize(m.raw)), exitCode: await exited };
  } finally {
    await session.close();
  }
}

test("quit with jobs running: their cancellation events come before quit's reply, then EOF", async () => {
  const [qemu, ours] = await Promise.all([
    startQemuStorageDaemon({ blockdevs: BLOCKDEVS }),
    startDaemon(process.execPath, [BIN, '--qemu-version', '7.2'], { blockdevs: BLOCKDEVS }),
  ]);
  daemons.push(qemu, ours);
  const [theirs, mine] = await Promise.all([quitWithJobs(qemu), quitWithJobs(ours)]);
  expect(mine.lines).toEqual(theirs.lines);
  expect(mine.exitCode).toBe(theirs.exitCode);
  // What the comparison is about: the reply is the last message, after the jobs' null events.
  const quitReply = theirs.lines.findIndex((l) => l.includes('"id": "quit"'));
  expect(quitReply).toBe(theirs.lines.length - 1);
  expect(theirs.lines.filter((l) => l.includes('"status": "null"'))).toHaveLength(2);
});
