/**
 * Events: encoding, QEMU's rate limiting of some events, and writing them to every client in
 * command mode (QEMU 7.2's monitor/monitor.c `monitor_qapi_event_queue`).
 */
import {
  encodeJson,
  type JsonObject,
  makeEvent,
  type QmpTimestamp,
  timestampFromMillis,
} from '@qmpkit/protocol';
import { QEMU_WIRE_ENCODING, QMP_LINE_END } from './wire.js';

/**
 * QEMU 7.2's rate-limited events (monitor/monitor.c `monitor_qapi_event_conf`) and the data
 * member that keys each one (events without a key are throttled by name alone).
 */
export const THROTTLED_EVENTS: Readonly<Record<string, string | null>> = Object.freeze({
  RTC_CHANGE: null,
  WATCHDOG: null,
  BALLOON_CHANGE: null,
  QUORUM_REPORT_BAD: 'node-name',
  QUORUM_FAILURE: null,
  VSERPORT_CHANGE: 'id',
  MEMORY_DEVICE_SIZE_CHANGE: 'qom-path',
});

/** What the event broadcaster needs from the server. */
export interface EventBroadcasterHost {
  /** The server clock, in milliseconds since the epoch. */
  readonly now: () => number;
  /** QEMU's throttle period, in milliseconds. */
  readonly throttlePeriodMs: number;
  /** Writes an encoded event to every client in command mode. */
  writeToClients(text: string): void;
}

/** One throttled event key: its period's timer and the latest event held back in it. */
interface ThrottleState {
  /** Undefined only until `arm` sets it. */
  timer: ReturnType<typeof setTimeout> | undefined;
  pending: string | undefined;
}

/** Raises events: encodes them, applies QEMU's throttling, writes them to the clients. */
export class EventBroadcaster {
  private readonly throttles = new Map<string, ThrottleState>();
  private stopped = false;

  constructor(private readonly host: EventBroadcasterHost) {}

  /** Sends `event` now (or, for a throttled event within its period, at the period's end). */
  raise(event: string, data: unknown, timestamp: QmpTimestamp | undefined): void {
    if (this.stopped) return;
    const message = makeEvent(
      event,
      data as JsonObject | undefined,
      timestamp ?? timestampFromMillis(this.host.now()),
    );
    const text = encodeJson(message, QEMU_WIRE_ENCODING) + QMP_LINE_END;
    if (!Object.hasOwn(THROTTLED_EVENTS, event)) {
      this.host.writeToClients(text);
      return;
    }
    const keyMember = THROTTLED_EVENTS[event];
    const keyValue =
      keyMember === null || keyMember === undefined
        ? ''
        : String((data as Record<string, unknown> | undefined)?.[keyMember] ?? '');
    const key = `${event}\u0000${keyValue}`;
    const state = this.throttles.get(key);
    if (state !== undefined) {
      // Within the period: keep only the latest, sent when the period ends.
      state.pending = text;
      return;
    }
    this.host.writeToClients(text);
    this.arm(key, { timer: undefined, pending: undefined });
  }

  /** Raises nothing more; held-back events are dropped (the server is closing). */
  stop(): void {
    this.stopped = true;
    for (const state of this.throttles.values()) clearTimeout(state.timer);
    this.throttles.clear();
  }

  private arm(key: string, state: ThrottleState): void {
    state.timer = setTimeout(() => {
      if (state.pending === undefined) {
        this.throttles.delete(key);
        return;
      }
      const text = state.pending;
      state.pending = undefined;
      this.host.writeToClients(text);
      this.arm(key, state);
    }, this.host.throttlePeriodMs);
    (state.timer as { unref?: () => void }).unref?.();
    this.throttles.set(key, state);
  }
}
