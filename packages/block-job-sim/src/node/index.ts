export { FsImageStore } from './fs-image-store.js';
export { nodeNbdListen } from './nbd-listen.js';
