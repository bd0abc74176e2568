// The version profiles, by version.
import type { QemuProfile, QemuProfileVersion } from './profile.js';
import { qemu72Profile } from './qemu-7.2.js';
import { qemu100Profile } from './qemu-10.0.js';

export {
  QEMU_PROFILE_VERSIONS,
  type QemuProfile,
  type QemuProfileVersion,
} from './profile.js';
export { qemu72Profile, qemu100Profile };

/** The profile of `version`. */
export function qemuProfile(version: QemuProfileVersion): QemuProfile {
  return version === '7.2' ? qemu72Profile : qemu100Profile;
}
