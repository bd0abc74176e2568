export { HANG_GUARD_MS, until } from './hang-guard.js';
