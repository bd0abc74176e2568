// The error injection of QEMU's blkdebug driver (block/blkdebug.c, 7.2), as a small state
// machine the job layer drives: block-layer events (`read_aio`, `write_aio`, … which format
// drivers raise on their file child) arm `inject-error` rules, and the next request that matches
// an armed rule fails with its errno. `set-state` rules move the driver between states, and
// rules with a `state` only fire in that state.

import type { BlkdebugInjectErrorOptions, BlkdebugSetStateOptions } from '@qmpkit/qapi-types/7.2';

/** BlkdebugIOType (7.2). */
export type BlkdebugIoType =
  | 'read'
  | 'write'
  | 'write-zeroes'
  | 'discard'
  | 'flush'
  | 'block-status';

/** The request types a rule without `iotype` applies to: all but block-status. */
const DEFAULT_IOTYPES: readonly BlkdebugIoType[] = [
  'read',
  'write',
  'write-zeroes',
  'discard',
  'flush',
];

const EIO = 5;

/** An inject-error rule with QEMU's defaults filled in. */
export interface BlkdebugRule {
  readonly event: string;
  /** 0: any state. */
  readonly state: number;
  readonly iotypes: readonly BlkdebugIoType[];
  readonly errno: number;
  /** Byte offset the request must cover (sector × 512), or -1 for any request. */
  readonly offset: number;
  readonly once: boolean;
  readonly immediately: boolean;
}

interface SetStateRule {
  readonly event: string;
  readonly state: number;
  readonly newState: number;
}

/** The failure a request gets. */
export interface InjectedError {
  readonly errno: number;
  /** Fail at once, or (QEMU's default) after one trip through the event loop. */
  readonly immediately: boolean;
}

export function blkdebugRule(options: BlkdebugInjectErrorOptions): BlkdebugRule {
  const sector = options.sector ?? -1;
  return {
    event: options.event,
    state: options.state ?? 0,
    iotypes: options.iotype !== undefined ? [options.iotype] : DEFAULT_IOTYPES,
    errno: options.errno ?? EIO,
    offset: sector === -1 ? -1 : sector * 512,
    once: options.once ?? false,
    immediately: options.immediately ?? false,
  };
}

/** One blkdebug node's rules and state. */
export class BlkdebugState {
  /** Inject-error rules per event, newest first (QEMU inserts at the head). */
  readonly #rules = new Map<string, BlkdebugRule[]>();
  readonly #setState = new Map<string, SetStateRule[]>();
  /** Rules armed by the last event that armed any. */
  #active: BlkdebugRule[] = [];
  #state = 1;

  constructor(
    injectErrors: readonly BlkdebugInjectErrorOptions[] = [],
    setState: readonly BlkdebugSetStateOptions[] = [],
  ) {
    for (const options of injectErrors) {
      const rule = blkdebugRule(options);
      this.#rules.set(rule.event, [rule, ...(this.#rules.get(rule.event) ?? [])]);
    }
    for (const options of setState) {
      const rule = { event: options.event, state: options.state ?? 0, newState: options.new_state };
      this.#setState.set(rule.event, [rule, ...(this.#setState.get(rule.event) ?? [])]);
    }
    // blkdebug_open ends by raising the `none` event on the node, so rules for `none` are armed
    // from the moment the node opens.
    this.event('none');
  }

  /** The driver's state (starts at 1). */
  get state(): number {
    return this.#state;
  }

  /** Every inject-error rule still in force, per event in QEMU's (newest first) order. */
  rules(): BlkdebugRule[] {
    return [...this.#rules.values()].flat();
  }

  /** Rules armed for the next requests. */
  activeRules(): readonly BlkdebugRule[] {
    return this.#active;
  }

  /**
   * A block-layer event reached the node: its rules for the current state take effect.
   * Inject-error rules replace the armed set; set-state rules change the state afterwards.
   */
  event(name: string): void {
    const applies = (ruleState: number) => ruleState === 0 || ruleState === this.#state;
    let newState = this.#state;
    // QEMU walks one list holding both kinds, newest first; for the order of the armed list
    // only the inject-error rules matter, and for the state the last matching set-state wins.
    const inject = (this.#rules.get(name) ?? []).filter((r) => applies(r.state));
    for (const rule of this.#setState.get(name) ?? []) {
      if (applies(rule.state)) newState = rule.newState;
    }
    if (inject.length > 0) this.#active = [...inject].reverse();
    this.#state = newState;
  }

  /**
   * A request of `iotype` over [offset, offset + bytes): the error it fails with, if an armed
   * rule matches. A `once` rule is used up.
   */
  check(iotype: BlkdebugIoType, offset: number, bytes: number): InjectedError | undefined {
    const rule = this.#active.find(
      (r) =>
        (r.offset === -1 || (bytes > 0 && r.offset >= offset && r.offset < offset + bytes)) &&
        r.iotypes.includes(iotype),
    );
    if (!rule || rule.errno === 0) return undefined;
    if (rule.once) {
      this.#active = this.#active.filter((r) => r !== rule);
      const list = this.#rules.get(rule.event) ?? [];
      this.#rules.set(
        rule.event,
        list.filter((r) => r !== rule),
      );
    }
    return { errno: rule.errno, immediately: rule.immediately };
  }
}
