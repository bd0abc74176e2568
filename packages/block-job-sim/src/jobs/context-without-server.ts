// A CommandContext for a handler run without @qmpkit/server: BlockJobSimulator.execute and the
// package's tests call handlers directly.

import type { CommandContext, EventBroadcast } from '@qmpkit/server';

/**
 * The context a handler gets when it runs without a server: events go to `broadcast`,
 * after-reply work to `afterReply`, in call order.
 */
export function contextWithoutServer(
  command: string,
  broadcast: EventBroadcast,
  afterReply: (callback: () => void) => void,
): CommandContext {
  return {
    command,
    id: undefined,
    oob: false,
    client: { id: 0, monitor: 'execute', peer: 'execute' },
    emit: broadcast,
    emitAfterReply: (event, data) => afterReply(() => broadcast(event, data)),
    afterReply,
  };
}
