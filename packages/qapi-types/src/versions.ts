// What exists in which QEMU version, for code that talks to more than one: each version's
// CommandMap and EventMap side by side, so that a command added after 7.2 (block-job-change) is a
// type error when the version is 7.2, and a helper can ask which commands one version added.

import type * as Qemu72 from './generated/qemu-7.2/types.generated.js';
import type * as Qemu10 from './generated/qemu-10.0/types.generated.js';

/** The QEMU versions this package has types for, oldest first. */
export const qemuVersions = ['7.2', '10.0'] as const;
export type QemuVersion = (typeof qemuVersions)[number];

/** Each version's command and event maps. */
export interface QapiByVersion {
  readonly '7.2': { readonly commands: Qemu72.CommandMap; readonly events: Qemu72.EventMap };
  readonly '10.0': { readonly commands: Qemu10.CommandMap; readonly events: Qemu10.EventMap };
}

export type CommandMapOf<V extends QemuVersion> = QapiByVersion[V]['commands'];
export type EventMapOf<V extends QemuVersion> = QapiByVersion[V]['events'];
export type CommandNameOf<V extends QemuVersion> = keyof CommandMapOf<V> & string;
export type EventNameOf<V extends QemuVersion> = keyof EventMapOf<V> & string;

/** The arguments of `C` on version `V`; `never` when `V` has no command `C`. */
export type CommandArgsOf<V extends QemuVersion, C extends string> =
  C extends CommandNameOf<V> ? (CommandMapOf<V>[C] extends { args: infer A } ? A : never) : never;

/** Commands version `To` has and version `From` lacks (e.g. `block-job-change` from 7.2 to 10.0). */
export type CommandsAddedIn<To extends QemuVersion, From extends QemuVersion> = Exclude<
  CommandNameOf<To>,
  CommandNameOf<From>
>;

/** Commands version `From` has and version `To` lacks. */
export type CommandsRemovedIn<To extends QemuVersion, From extends QemuVersion> = Exclude<
  CommandNameOf<From>,
  CommandNameOf<To>
>;
