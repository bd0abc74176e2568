/**
 * A monitor: one listening endpoint's line of clients (QEMU: one monitor on one chardev). It
 * serves one client at a time (or all at once) and talks to the server only through the narrow
 * `MonitorHost` callbacks.
 */
import type { Transport } from '@qmpkit/protocol';
import { closeTransport, type Session } from './session.js';
import type { AttachOptions, LogLevel, MonitorOptions } from './types.js';

/** What a monitor needs from the server it belongs to. */
export interface MonitorHost {
  /** Clients a single-client monitor keeps waiting. */
  readonly maxWaitingClients: number;
  log(level: LogLevel, message: string): void;
  /** Greets a transport and starts serving it. */
  openSession(monitor: Monitor, transport: Transport, peer: string): Session;
  /** The monitor has closed. */
  monitorClosed(monitor: Monitor): void;
}

/**
 * One listening endpoint (QEMU: one monitor on one chardev). Create it with
 * `QmpServer.createMonitor()`; the Node listeners in `@qmpkit/server/node` create one each.
 */
export class Monitor {
  private currentName: string;
  readonly serveAllClients: boolean;
  /** The client currently served (single-client mode). */
  active: Session | undefined;
  readonly sessions = new Set<Session>();
  private readonly waiting: { transport: Transport; peer: string }[] = [];
  private closing: Promise<void> | undefined;
  private readonly onClose: (() => Promise<void> | void) | undefined;

  constructor(
    private readonly host: MonitorHost,
    options: MonitorOptions,
  ) {
    this.currentName = options.name ?? 'monitor';
    this.serveAllClients = options.serveAllClients ?? false;
    this.onClose = options.onClose;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** The monitor's name in logs. */
  get name(): string {
    return this.currentName;
  }

  /** @internal Renames the monitor (a TCP listener learns its port after binding). */
  rename(name: string): void {
    this.currentName = name;
  }

  /** Number of clients accepted but not yet greeted. */
  get waitingClients(): number {
    return this.waiting.length;
  }

  /**
   * Hands a connected transport (not started) to this monitor: it is greeted now, or — on a
   * single-client monitor that is busy — when the clients before it have left.
   */
  attach(transport: Transport, options: AttachOptions = {}): void {
    const peer = options.peer ?? 'peer';
    if (this.closed) {
      void transport.close().catch(() => {});
      return;
    }
    if (this.serveAllClients || this.active === undefined) {
      this.open(transport, peer);
      return;
    }
    // Like QEMU, which leaves them in the listen backlog: every client waits its turn, none is
    // turned away (a waiting transport is paused, so it costs a socket and no reading).
    if (this.waiting.length >= this.host.maxWaitingClients) {
      this.host.log(
        'warn',
        `${this.name}: ${this.waiting.length} clients already wait; refusing ${peer}`,
      );
      void transport.close().catch(() => {});
      return;
    }
    const entry = { transport, peer };
    this.waiting.push(entry);
    // A waiting client that goes away leaves the line.
    transport.onclose = () => {
      const index = this.waiting.indexOf(entry);
      if (index >= 0) this.waiting.splice(index, 1);
    };
  }

  private open(transport: Transport, peer: string): void {
    const session = this.host.openSession(this, transport, peer);
    this.sessions.add(session);
    if (!this.serveAllClients) this.active = session;
  }

  /** @internal Set for the monitor `QmpServer.serve()` creates for one transport. */
  closeWhenIdle = false;

  /** @internal Called by the server when a session of this monitor is over. */
  sessionClosed(session: Session): void {
    this.sessions.delete(session);
    if (this.active === session) {
      this.active = undefined;
      if (!this.closed) {
        const next = this.waiting.shift();
        if (next !== undefined) this.open(next.transport, next.peer);
      }
    }
    if (this.closeWhenIdle && this.sessions.size === 0 && this.waiting.length === 0) {
      void this.close();
    }
  }

  /** Stops accepting, disconnects its clients (waiting ones too). Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      const waiting = this.waiting.splice(0);
      await Promise.allSettled([
        Promise.resolve(this.onClose?.()),
        ...waiting.map((w) => closeTransport(w.transport)),
        ...[...this.sessions].map((s) => s.shutdown()),
      ]);
      this.host.monitorClosed(this);
    })();
    return this.closing;
  }
}
