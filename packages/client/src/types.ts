/**
 * Typing of commands and events, from the generated `CommandMap` and `EventMap`.
 */
import type { QmpTimestamp } from '@qmpkit/protocol';
import type { CommandMap, EventMap } from '@qmpkit/qapi-types/7.2';

/** A command of the schema. */
export type CommandName = keyof CommandMap & string;
/** The arguments of a command (`Record<string, never>` for a command without arguments). */
export type CommandArgs<C extends CommandName> = CommandMap[C]['args'];
/** What a command returns (`Record<string, never>` for `{}`). */
export type CommandReturn<C extends CommandName> = CommandMap[C]['ret'];

/** Per-call options of `execute`. */
export interface CallOptions {
  /** Reject with a `TimeoutError` if no reply came within this many milliseconds. */
  timeoutMs?: number;
  /** Reject with the signal's reason when it aborts (the command may still run in QEMU). */
  signal?: AbortSignal;
}

/**
 * The rest parameters of `execute(name, ...)`: the arguments are optional exactly when every
 * member of the command's arguments is optional (or it takes none).
 */
export type ExecuteRest<C extends CommandName> =
  Record<string, never> extends CommandArgs<C>
    ? [args?: CommandArgs<C> | undefined, options?: CallOptions]
    : [args: CommandArgs<C>, options?: CallOptions];

/** An event of the schema. */
export type EventName = keyof EventMap & string;

/** A received event, typed by name: `event`, `data` and QEMU's `timestamp`. */
export type ClientEvent<N extends EventName = EventName> = {
  [K in N]: { event: K; data: EventMap[K]; timestamp: QmpTimestamp };
}[N];

/** Where a client is in its life. */
export type ClientState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'closed';

/** What a connect hook is told about the connection that was just negotiated. */
export interface ConnectInfo {
  /** True after a reconnect, false on the first connection. */
  readonly reconnected: boolean;
  /** True when the client reconnects by itself when this connection is lost. */
  readonly reconnects: boolean;
  /** Why the previous connection ended (reconnects only). */
  readonly cause: Error | undefined;
  /** Connection attempts this connection took (1 on the first connection). */
  readonly attempts: number;
}

/**
 * Work to do on each new connection, once it is negotiated and before the client reports it
 * (`connect()` resolves, or listeners hear `reconnected`). The client is `connected` while it
 * runs, so it may execute commands. If it throws, a first connection fails (the client closes)
 * and a reconnection is dropped and tried again.
 */
export type ConnectHook = (info: ConnectInfo) => Promise<void> | void;
