// A stand-in for @qmpkit/server in the scenario tests: runs a handler, writes the reply into a
// transcript after the events the handler emitted, then runs its after-reply work, as the
// server does. Transcript lines are short strings so expectations read like the reference's.
import { CommandError } from '@qmpkit/protocol';
import type { BlockdevOptions } from '@qmpkit/qapi-types/7.2';
import { BlockLayer } from '../block-layer.js';
import { VirtualClock } from '../clock/clock.js';
import { MemoryImageStore } from '../image-store.js';
import type { QemuProfile } from '../profile/profile.js';
import { buildEmptyQcow2 } from '../qcow2.js';
import { qemuSchema } from '../qemu-schema.test-helper.js';
import { contextWithoutServer } from './context-without-server.js';
import { createSimulator, type Simulation } from './simulator.js';

export const MiB = 1024 * 1024;

export interface Logged {
  readonly event: string;
  readonly data: Record<string, unknown>;
}

export class Scenario {
  readonly clock = new VirtualClock();
  readonly store = new MemoryImageStore();
  readonly layer = new BlockLayer({ store: this.store, schema: qemuSchema });
  readonly sim: Simulation;
  /** Everything since the last take(): events and replies, in order. */
  #lines: string[] = [];
  readonly events: Logged[] = [];
  /** Failures inside timers or after-reply work (simulator bugs that never reach a client). */
  readonly internalErrors: unknown[] = [];

  /** Unthrottled I/O at `throughput` bytes/s: 1 GiB/s unless told otherwise; QEMU 7.2 unless a profile is given. */
  constructor(options: { throughput?: number; profile?: QemuProfile } = {}) {
    this.sim = createSimulator({
      ...(options.profile === undefined ? {} : { profile: options.profile }),
      blockLayer: this.layer,
      clock: this.clock,
      throughput: options.throughput ?? 1024 * MiB,
      onInternalError: (error) => this.internalErrors.push(error),
      onEvent: (event, data) => {
        const d: Record<string, unknown> = { ...data };
        this.events.push({ event, data: d });
        this.#lines.push(describe(event, d));
      },
    });
  }

  /** Runs a command; returns its return value or throws its CommandError. */
  run(command: string, args: Record<string, unknown> = {}): unknown {
    // Untyped on purpose: scenarios send what a client would.
    const handlers: Readonly<Record<string, unknown>> = this.sim.handlers;
    const handler = handlers[command];
    if (typeof handler !== 'function') throw new Error(`no handler for ${command}`);
    const after: Array<() => void> = [];
    let result: unknown;
    let failure: CommandError | undefined;
    try {
      result = handler(
        args,
        contextWithoutServer(
          command,
          () => {},
          (cb) => after.push(cb),
        ),
      );
      this.#lines.push('R');
    } catch (error) {
      if (!CommandError.isInstance(error)) throw error;
      failure = error;
      this.#lines.push(`R ${error.errorClass}: ${error.desc}`);
    }
    for (const cb of after) cb();
    if (failure !== undefined) throw failure;
    return result;
  }

  /** Runs a command expected to fail; returns `class: desc`. */
  fail(command: string, args: Record<string, unknown> = {}): string {
    try {
      this.run(command, args);
    } catch (error) {
      if (CommandError.isInstance(error)) return `${error.errorClass}: ${error.desc}`;
      throw error;
    }
    throw new Error(`${command} succeeded`);
  }

  /**
   * blockdev-mirror of `src` to `dst` with sync=full as job `m1`; `args` add to (or replace)
   * those arguments. Returns what the command returns, as `run` does.
   */
  mirror(args: Record<string, unknown> = {}): unknown {
    return this.#copyJob('blockdev-mirror', 'm1', args);
  }

  /**
   * blockdev-backup of `src` to `dst` with sync=full as job `b1`; `args` add to (or replace)
   * those arguments. Returns what the command returns, as `run` does.
   */
  backup(args: Record<string, unknown> = {}): unknown {
    return this.#copyJob('blockdev-backup', 'b1', args);
  }

  #copyJob(command: string, id: string, args: Record<string, unknown>): unknown {
    return this.run(command, { 'job-id': id, device: 'src', target: 'dst', sync: 'full', ...args });
  }

  /** The transcript lines since the last call. */
  take(): string[] {
    const lines = this.#lines;
    this.#lines = [];
    return lines;
  }

  step(ms: number): void {
    this.clock.advance(ms);
  }

  stepNs(ns: number): void {
    this.clock.advanceNs(ns);
  }

  add(options: BlockdevOptions): void {
    this.layer.add(options);
  }

  /**
   * A null-co node that reads zeroes: every byte of it is allocated (bdrv_is_allocated), as in
   * the images these scenarios stand for. Without read-zeroes a null-co node holds nothing a
   * stream, commit or sync=top backup would copy.
   */
  nullNode(name: string, size: number): void {
    this.add({ driver: 'null-co', 'node-name': name, size, 'read-zeroes': true });
  }

  /** A null-co node without read-zeroes: it reports no allocated data. */
  emptyNullNode(name: string, size: number): void {
    this.add({ driver: 'null-co', 'node-name': name, size });
  }

  /** An empty qcow2 overlay `name` of `size` bytes over the node `backing`. */
  overlay(name: string, size: number, backing: string, allocate: number[] = []): void {
    const path = `/${name}.qcow2`;
    this.store.put(path, qcow2Image(size, allocate));
    this.add({
      driver: 'qcow2',
      'node-name': name,
      file: { driver: 'file', filename: path },
      backing,
    });
  }

  blockJob(id: string): Record<string, unknown> | undefined {
    const list = this.run('query-block-jobs') as Array<Record<string, unknown>>;
    return list.find((j) => j.device === id);
  }

  job(id: string): Record<string, unknown> | undefined {
    const list = this.run('query-jobs') as Array<Record<string, unknown>>;
    return list.find((j) => j.id === id);
  }

  /** A query without recording its reply line. */
  peek(id: string): Record<string, unknown> | undefined {
    const info = this.blockJob(id);
    this.#lines.pop();
    return info;
  }
}

function describe(event: string, data: Record<string, unknown>): string {
  switch (event) {
    case 'JOB_STATUS_CHANGE':
      return `${data.id} ${data.status}`;
    case 'BLOCK_JOB_ERROR':
      return `ERROR ${data.device} ${data.operation} ${data.action}`;
    case 'BLOCK_JOB_PENDING':
      return `PENDING ${data.id}`;
    default: {
      const name = event.replace('BLOCK_JOB_', '');
      const error = data.error !== undefined ? ` error=${data.error}` : '';
      return `${name} ${data.device} ${data.offset}/${data.len}${error}`;
    }
  }
}

/** A qcow2 image of `size` bytes, with the given guest clusters (64 KiB) allocated. */
export function qcow2Image(size: number, allocate: number[] = []): Uint8Array {
  const cluster = 65536;
  const { writes, fileLength } = buildEmptyQcow2({ size, clusterSize: cluster });
  const image = new Uint8Array(fileLength + allocate.length * cluster + cluster);
  for (const w of writes) image.set(w.data, w.offset);
  if (allocate.length > 0) {
    // One L2 table after the metadata, then the data clusters.
    const l2Offset = fileLength;
    const view = new DataView(image.buffer);
    view.setBigUint64(3 * cluster, BigInt(l2Offset) | (1n << 63n));
    allocate.forEach((guestCluster, i) => {
      view.setBigUint64(
        l2Offset + guestCluster * 8,
        BigInt(l2Offset + (i + 1) * cluster) | (1n << 63n),
      );
    });
  }
  return image;
}

/** A 64 MiB qcow2 `top` over a 64 MiB null-co `base`: streaming copies all of it. */
export function streamChain(s: Scenario, size = 64 * MiB): void {
  s.nullNode('base', size);
  s.overlay('top', size, 'base');
  s.take();
}

/** Null-co `src` and `dst` of `size` bytes. */
export function mirrorPair(s: Scenario, size = 64 * MiB): void {
  s.nullNode('src', size);
  s.nullNode('dst', size);
  s.take();
}
