/**
 * What the job layer needs of a client: executing commands, and the client's public event and
 * connection hooks. `QmpClient` is one; the job layer never reaches into it.
 */
import type { JsonObject } from '@qmpkit/protocol';
import type { ClientListener } from './event-stream.js';
import type {
  CallOptions,
  ClientState,
  CommandName,
  CommandReturn,
  ConnectHook,
  ExecuteRest,
} from './types.js';

export interface JobClient {
  readonly state: ClientState;
  execute<C extends CommandName>(name: C, ...rest: ExecuteRest<C>): Promise<CommandReturn<C>>;
  executeUntyped(
    name: string,
    args?: JsonObject | Record<string, unknown>,
    options?: CallOptions & { oob?: boolean },
  ): Promise<unknown>;
  /** Registers a listener; returns its unsubscribe function. */
  subscribe(listener: ClientListener): () => void;
  /** Registers a hook run on every new connection; returns its removal function. */
  onConnect(hook: ConnectHook): () => void;
}
