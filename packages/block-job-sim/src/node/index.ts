export { FsImageStore } from './fs-image-store.js';
