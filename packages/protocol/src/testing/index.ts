// @qmpkit/protocol/testing — an in-memory linked transport pair for tests.
export {
  createLinkedPair,
  type LinkedPairOptions,
  type LinkedSideOptions,
  LinkedTransport,
  splitEvery,
} from './linked-pair.js';
