// Type tests: handlers and events are typed by the generated CommandMap and EventMap.
import {
  type CommandMap,
  type JobInfo,
  qmpSchema as schema,
  qmpSchemaExtras as schemaExtras,
} from '@qmpkit/qapi-types/7.2';
import { expectTypeOf } from 'vitest';
import {
  type CommandContext,
  type CommandHandler,
  type EventBroadcast,
  type HandlerMap,
  QmpServer,
} from './index.js';

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

// An extension command joins the handler types through the command table.
interface StepCommands {
  'x-step': { args: { ns: number }; ret: Record<string, never> };
}
const extended = new QmpServer<CommandMap & StepCommands>({
  schema,
  schemaExtras,
  handlers: {
    'x-step': (args) => {
      expectTypeOf(args).toEqualTypeOf<{ ns: number }>();
    },
    'query-jobs': () => [] as JobInfo[],
  },
});
extended.register('x-step', () => ({}));
// @ts-expect-error: x-step takes { ns: number }
extended.register('x-step', (args: { seconds: string }) => void args);
// @ts-expect-error: the default table has no x-step
server.register('x-step', () => ({}));
// A map for QEMU's table fits the extended one.
const qemuOnly: HandlerMap = { 'query-jobs': () => [] };
const fits: HandlerMap<CommandMap & StepCommands> = qemuOnly;
void fits;
const broadcast: EventBroadcast = (event, data) => server.emit(event, data);
// @ts-expect-error: not a JobStatus
broadcast('JOB_STATUS_CHANGE', { id: 'j', status: 'sleeping' });
