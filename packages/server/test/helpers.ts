// Test helpers (not exported from the package): a server plus in-memory clients.
import type { CodecOptions, JsonValue, Transport } from '@qmpkit/protocol';
import { createLinkedPair, type LinkedPairOptions } from '@qmpkit/protocol/testing';
import { qmpSchema, qmpSchemaExtras } from '@qmpkit/qapi-types/7.2';
import { HANG_GUARD_MS, until } from '@qmpkit/test-support';
import { onTestFinished } from 'vitest';
import { QMP_SERVER_CODEC } from '../src/codec.js';
import { type Monitor, QmpServer } from '../src/server.js';
import type { QmpServerOptions } from '../src/types.js';

export interface TestClient {
  readonly transport: Transport;
  readonly messages: JsonValue[];
  readonly closes: (Error | undefined)[];
  send(text: string | Uint8Array): Promise<void>;
  /** Waits until `count` messages in total arrived. */
  waitFor(count: number, ms?: number): Promise<JsonValue[]>;
  /** Messages after the greeting. */
  readonly replies: JsonValue[];
  /** Sends qmp_capabilities (optionally enabling oob) and waits for its reply. */
  negotiate(oob?: boolean): Promise<void>;
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export interface Harness {
  readonly server: QmpServer;
  readonly logs: [string, string][];
  /** Connects a client: on `monitor` if given, else on a monitor of its own. */
  connect(options?: {
    monitor?: Monitor;
    pair?: LinkedPairOptions;
    start?: boolean;
    serverCodec?: CodecOptions;
  }): Promise<TestClient>;
}

/** QEMU 7.2's runtime schema, which whoever builds a server hands to it. */
export const testSchema = { schema: qmpSchema, schemaExtras: qmpSchemaExtras } as const;

export function harness(options: Partial<QmpServerOptions> = {}): Harness {
  const logs: [string, string][] = [];
  const server = new QmpServer({
    ...testSchema,
    log: (level, message) => logs.push([level, message]),
    ...options,
  });
  // A test that fails or times out must not leave its server working on (a flood of replies
  // still being encoded would starve the tests after it): end it when the test ends.
  onTestFinished(() => server.abort());
  return {
    server,
    logs,
    async connect(connectOptions = {}) {
      const [client, serverSide] = createLinkedPair({
        ...connectOptions.pair,
        server: { codec: connectOptions.serverCodec ?? QMP_SERVER_CODEC },
      });
      const messages: JsonValue[] = [];
      const closes: (Error | undefined)[] = [];
      client.onmessage = (m) => messages.push(m);
      client.onclose = (cause) => closes.push(cause);
      if (connectOptions.start !== false) await client.start();
      server.serve(serverSide, connectOptions.monitor ? { monitor: connectOptions.monitor } : {});
      const waitFor = async (count: number, ms = HANG_GUARD_MS) => {
        await until(
          () => messages.length >= count,
          `${count} messages, got ${JSON.stringify(messages)}`,
          ms,
        );
        return messages;
      };
      const testClient: TestClient = {
        transport: client,
        messages,
        closes,
        send: (text) => client.sendRaw(text),
        waitFor,
        get replies() {
          return messages.slice(1);
        },
        async negotiate(oob = false) {
          await waitFor(1);
          const before = messages.length;
          await client.sendRaw(
            oob
              ? '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}'
              : '{"execute":"qmp_capabilities"}',
          );
          await waitFor(before + 1);
          messages.splice(1, messages.length - 1);
        },
      };
      return testClient;
    },
  };
}
