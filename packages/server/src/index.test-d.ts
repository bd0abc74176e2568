// Type tests: handlers and events are typed by the generated CommandMap and EventMap.
import {
  type JobInfo,
  qmpSchema as schema,
  qmpSchemaExtras as schemaExtras,
} from '@qmpkit/qapi-types';
import { expectTypeOf } from 'vitest';
import { type CommandContext, type CommandHandler, type HandlerMap, QmpServer } from './index.js';

const server = new QmpServer({
  schema,
  schemaExtras,
  handlers: {
    'job-pause': (args, context) => {
      expectTypeOf(args).toEqualTypeOf<{ id: string }>();
      expectTypeOf(context).toEqualTypeOf<CommandContext>();
    },
    'block-job-set-speed': async (args) => {
      expectTypeOf(args.speed).toEqualTypeOf<number>();
    },
    'query-jobs': () => [] as JobInfo[],
  },
});

// @ts-expect-error: query-jobs returns a list of JobInfo
const wrongReturn: HandlerMap = { 'query-jobs': () => 5 };
// @ts-expect-error: no such command in the schema
const unknownCommand: HandlerMap = { 'no-such-command': () => undefined };
void wrongReturn;
void unknownCommand;

const pause: CommandHandler<'job-pause'> = (_args, context) => {
  context.emit('JOB_STATUS_CHANGE', { id: 'j', status: 'paused' });
  context.emitAfterReply('JOB_STATUS_CHANGE', { id: 'j', status: 'running' });
  // @ts-expect-error: not a JobStatus
  context.emit('JOB_STATUS_CHANGE', { id: 'j', status: 'sleeping' });
  // @ts-expect-error: not an event of the schema
  context.emit('NO_SUCH_EVENT', {});
};
server.register('job-pause', pause);
// @ts-expect-error: a handler expecting block-job-set-speed's arguments does not fit job-pause
server.register('job-pause', (args: { device: string; speed: number }) => void args);
