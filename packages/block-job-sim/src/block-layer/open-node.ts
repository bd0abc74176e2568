// Opening nodes (bdrv_open and the drivers' open functions): blockdev-add options, checked and
// opened with QEMU's texts, children first or last as each driver does, a qcow2 image's backing
// file found from its header. Node metadata comes from the image files through the ImageStore.

import { CommandError } from '@qmpkit/protocol';
import type { BlockdevOptions, BlockdevRef } from '@qmpkit/qapi-types/7.2';
import { BlkdebugState } from '../blkdebug.js';
import { genericError, notSimulated, storeFailure } from '../errors.js';
import { combinePath, type ImageStore } from '../image-store.js';
import { NO_PERMISSIONS } from '../permissions.js';
import { isSimulatedDriver, type SimulatedDriver } from '../qapi.js';
import {
  type Qcow2AllocationMap,
  Qcow2FormatError,
  type Qcow2Header,
  readQcow2AllocationMap,
  readQcow2Header,
} from '../qcow2.js';
import type { BlockSchema } from '../schema.js';
import type { BlockNode, ChildName } from './node.js';
import { attach, detachFromChild } from './node-graph.js';
import { refreshFilename } from './node-info.js';
import {
  DEFAULT_CACHE,
  fileNodePath,
  type Inherited,
  type MutableNode,
  rawDataOffset,
  roundUpToSector,
} from './node-state.js';
import { extractChildOptions, type FlatOptions, flattenOptions } from './qdict-options.js';

const DEFAULT_NULL_SIZE = 1 << 30;
const MAX_NODE_NAME = 31;
const NODE_NAME = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/**
 * QEMU's checks of a new node's name (bdrv_assign_node_name), in its order: the grammar, a node
 * of that name already open, the length.
 */
export function checkNewNodeName(
  name: string,
  nodes: readonly { readonly nodeName: string }[],
): void {
  if (!NODE_NAME.test(name)) throw genericError(`Invalid node-name: '${name}'`);
  if (nodes.some((n) => n.nodeName === name))
    throw genericError(`Duplicate nodes with node-name='${name}'`);
  if (name.length > MAX_NODE_NAME) throw genericError('Node name too long');
}
/**
 * The format bdrv_open() finds for an image given without one (find_image_format): qcow2 by its
 * magic, anything else (or a file that cannot be read) raw.
 */
export function probeImageFormat(store: ImageStore, path: string): 'qcow2' | 'raw' {
  let magic: Uint8Array;
  try {
    magic = store.read(path, 0, 4);
  } catch {
    return 'raw';
  }
  return magic[0] === 0x51 && magic[1] === 0x46 && magic[2] === 0x49 && magic[3] === 0xfb
    ? 'qcow2'
    : 'raw';
}

/** Bound on nesting of inline node definitions (QEMU has none short of its JSON depth limit). */
const MAX_DEPTH = 64;

/** The first option given that the simulator does not model for this driver, if any. */
function unsupportedOption(options: BlockdevOptions): string | undefined {
  switch (options.driver) {
    case 'qcow2':
      if (options['data-file'] !== undefined) return 'data-file';
      return options.encrypt !== undefined ? 'encrypt' : undefined;
    case 'blkdebug':
      return options.config !== undefined ? 'config' : undefined;
    default:
      return undefined;
  }
}

/** What opening nodes needs of the block layer. */
export interface NodeOpenContext {
  readonly store: ImageStore;
  readonly schema: BlockSchema;
  /** The layer's nodes in creation order: opened nodes are appended as they open. */
  readonly nodes: MutableNode[];
  /** A qcow2 node has opened (with its children): its persistent bitmaps are loaded. */
  qcow2Opened(node: MutableNode): void;
  /** A name for a node opened without node-name: `#block` + counter + two digits. */
  generatedNodeName(): string;
  /** Whether a job's filter node (not in `nodes`) has this name. */
  isJobFilterName(name: string): boolean;
  /** A change of the block graph under its write lock (see OpeningSteps). */
  graphChanged(): void;
}

/**
 * The changes of the block graph that bdrv_open_inherit() makes opening one node, each under
 * the graph's write lock (bdrv_graph_wrlock, which on QEMU 8.2 on drains every node), made
 * whether the open then succeeds or fails:
 * - a format node (qcow2, raw) probes its file through a temporary BlockBackend, attached once
 *   the file is open and dropped once the driver's open has returned or failed;
 * - the driver attaches each child (bdrv_attach_child), also when the permissions refuse it;
 * - a driver's open that fails detaches its children again (bdrv_open_common's open_failed);
 * - a node that fails is closed again (bdrv_unref → bdrv_close).
 * Checks before the node exists (the driver's name, the simulator's own limits) make none.
 */
class OpeningSteps {
  readonly #changed: () => void;
  #probing = false;
  #driverOpening = false;
  /** The node, once it is in the layer's node list. */
  node: MutableNode | undefined;

  constructor(changed: () => void) {
    this.#changed = changed;
  }

  graphChange(): void {
    this.#changed();
  }

  probeAttached(): void {
    this.#probing = true;
    this.#changed();
  }

  driverOpens(): void {
    this.#driverOpening = true;
  }

  driverOpened(): void {
    this.#driverOpening = false;
    this.#dropProbe();
  }

  failed(): void {
    if (this.#driverOpening) this.#changed();
    this.#dropProbe();
    this.#changed();
  }

  #dropProbe(): void {
    if (!this.#probing) return;
    this.#probing = false;
    this.#changed();
  }
}

export class NodeOpener {
  readonly #context: NodeOpenContext;

  constructor(context: NodeOpenContext) {
    this.#context = context;
  }

  /**
   * Opens the node blockdev-add describes (options in schema order) with its inline children.
   * Every node opened is appended to `created`, also when a later one fails, so that the
   * caller can take them out again.
   */
  open(options: BlockdevOptions, created: MutableNode[]): MutableNode {
    return this.#open(options, false, created, 0, flattenOptions(options), DEFAULT_CACHE);
  }

  #resolveRef(
    ref: BlockdevRef,
    readOnly: boolean,
    created: MutableNode[],
    depth: number,
    parentFlat: FlatOptions,
    childName: ChildName,
    cache: Inherited,
  ): MutableNode {
    if (typeof ref === 'string') {
      const node = this.#context.nodes.find((n) => n.nodeName === ref);
      if (!node) throw genericError(`Cannot find device='${ref}' nor node-name='${ref}'`);
      return node;
    }
    return this.#open(
      ref,
      readOnly,
      created,
      depth + 1,
      extractChildOptions(parentFlat, childName),
      cache,
    );
  }

  #checkNodeName(name: string): void {
    checkNewNodeName(name, this.#context.nodes);
    if (this.#context.isJobFilterName(name)) {
      throw genericError(`Duplicate nodes with node-name='${name}'`);
    }
  }

  #register(node: MutableNode, created: MutableNode[], steps: OpeningSteps): void {
    this.#context.nodes.push(node);
    created.push(node);
    steps.node = node;
  }

  #newNode(
    options: BlockdevOptions,
    driver: SimulatedDriver,
    readOnly: boolean,
    flat: FlatOptions,
    cache: Inherited,
  ): MutableNode {
    if (options['detect-zeroes'] === 'unmap' && options.discard !== 'unmap') {
      throw genericError(
        'setting detect-zeroes to unmap is not allowed without setting discard operation to unmap',
      );
    }
    const given = options['node-name'];
    let nodeName: string;
    if (given !== undefined) {
      this.#checkNodeName(given);
      nodeName = given;
    } else {
      nodeName = this.#context.generatedNodeName();
    }
    return {
      nodeName,
      driver,
      userNamed: given !== undefined,
      readOnly,
      length: 0,
      children: [],
      get file() {
        return this.children.find((c) => c.name === 'file' || c.name === 'image')?.node;
      },
      get backing() {
        return this.children.find((c) => c.name === 'backing')?.node;
      },
      filename: undefined,
      qcow2: undefined,
      blkdebug: undefined,
      readZeroes: false,
      latencyNs: 0,
      cache: { direct: cache.direct, noFlush: cache.noFlush },
      forceShare: cache.forceShare,
      users: [],
      monitorOwned: false,
      blockers: [],
      locking: false,
      lockIdentity: undefined,
      locked: NO_PERMISSIONS,
      options,
      flat: flat.filter(([key]) => !/^(file|image|backing)(\.|$)/.test(key)),
      fileStat: undefined,
      allocation: undefined,
      appendedEnd: 0,
      dataExtents: undefined,
      autoBackingFile: '',
      holds: 0,
    };
  }

  #open(
    options: BlockdevOptions,
    inheritedReadOnly: boolean,
    created: MutableNode[],
    depth: number,
    flat: FlatOptions,
    inheritedCache: Inherited,
  ): MutableNode {
    if (depth > MAX_DEPTH) throw genericError('Block node definitions nested too deeply');
    const driver = options.driver;
    if (!isSimulatedDriver(driver)) {
      if (this.#context.schema.isBlockdevDriver(driver)) throw notSimulated(`driver '${driver}'`);
      throw genericError(`Parameter 'driver' does not accept value '${driver}'`);
    }
    const unsupported = unsupportedOption(options);
    if (unsupported !== undefined) {
      throw notSimulated(`the '${unsupported}' option of driver '${driver}'`);
    }
    const readOnly = options['read-only'] ?? inheritedReadOnly;
    // Children opened with their parent inherit its cache mode (bdrv_inherited_options).
    const cache: Inherited = {
      direct: options.cache?.direct ?? inheritedCache.direct,
      noFlush: options.cache?.['no-flush'] ?? inheritedCache.noFlush,
      forceShare: options['force-share'] ?? inheritedCache.forceShare,
    };
    // From here on QEMU has made the node (bdrv_new): a failure closes it again.
    const steps = new OpeningSteps(this.#context.graphChanged);
    try {
      if (cache.forceShare && !readOnly) {
        throw genericError('force-share=on can only be used with read-only images');
      }
      return this.#openNode(options, driver, readOnly, created, depth, flat, cache, steps);
    } catch (error) {
      steps.failed();
      if (steps.node !== undefined) this.#undo(steps.node, created);
      throw error;
    }
  }

  /** A node whose open failed leaves the graph again, with the edges to its children. */
  #undo(node: MutableNode, created: MutableNode[]): void {
    const nodes = this.#context.nodes;
    if (nodes.includes(node)) nodes.splice(nodes.indexOf(node), 1);
    if (created.includes(node)) created.splice(created.indexOf(node), 1);
    for (const child of node.children) detachFromChild(child, node);
    node.children.length = 0;
  }

  /**
   * Attaches a child (bdrv_attach_child under the graph's write lock, a graph change whether
   * the permissions allow it or not).
   */
  #attach(node: MutableNode, name: ChildName, child: MutableNode, steps: OpeningSteps): void {
    steps.graphChange();
    attach(this.#context.nodes, node, name, child);
  }

  #openNode(
    options: BlockdevOptions,
    driver: SimulatedDriver,
    readOnly: boolean,
    created: MutableNode[],
    depth: number,
    flat: FlatOptions,
    cache: Inherited,
    steps: OpeningSteps,
  ): MutableNode {
    switch (options.driver) {
      case 'null-co': {
        const node = this.#newNode(options, driver, readOnly, flat, cache);
        steps.driverOpens();
        const size = options.size ?? DEFAULT_NULL_SIZE;
        if (size < 0) {
          // QEMU 7.2 prints this and then aborts (error_abort in null_file_open); we only refuse.
          throw genericError("Parameter 'size' expects a non-negative number below 2^64");
        }
        const latency = options['latency-ns'] ?? 0;
        if (latency < 0 || latency >= 2 ** 63) {
          throw genericError('latency-ns is invalid');
        }
        Object.assign(node, {
          length: size,
          readZeroes: options['read-zeroes'] ?? false,
          latencyNs: latency,
        });
        this.#register(node, created, steps);
        steps.driverOpened();
        return node;
      }
      case 'file': {
        const filename = options.filename;
        const node = this.#newNode(options, driver, readOnly, flat, cache);
        steps.driverOpens();
        let stat: { size: number; allocatedBytes: number };
        try {
          stat = this.#context.store.stat(filename);
        } catch (error) {
          throw storeFailure(`Could not open '${filename}'`, error);
        }
        // Lengths are counted in 512-byte sectors, rounded up (bdrv_getlength).
        Object.assign(node, {
          length: roundUpToSector(stat.size),
          filename,
          fileStat: stat,
          locking: options.locking !== 'off',
          lockIdentity: this.#context.store.identify?.(filename) ?? filename,
        });
        this.#register(node, created, steps);
        steps.driverOpened();
        return node;
      }
      case 'raw': {
        // Format drivers open their file child before the node itself gets its name.
        const file = this.#resolveRef(options.file, readOnly, created, depth, flat, 'file', cache);
        steps.probeAttached();
        const node = this.#newNode(options, driver, readOnly, flat, cache);
        steps.driverOpens();
        // raw reads offset and size as sizes (QemuOpts), which refuse negative numbers.
        for (const option of ['offset', 'size'] as const) {
          if ((options[option] ?? 0) < 0) {
            throw genericError(`Parameter '${option}' expects a non-negative number below 2^64`);
          }
        }
        this.#register(node, created, steps);
        this.#attach(node, 'file', file, steps);
        const offset = options.offset ?? 0;
        const available = file.length - offset;
        if (offset > file.length) {
          throw genericError(
            `Offset (${offset}) cannot be greater than size of the containing file (${file.length})`,
          );
        }
        if (options.size !== undefined && available < options.size) {
          throw genericError(
            `The sum of offset (${offset}) and size (${options.size}) has to be smaller or equal to the  actual size of the containing file (${file.length})`,
          );
        }
        if (options.size !== undefined && options.size % 512 !== 0) {
          throw genericError('Specified size is not multiple of 512');
        }
        Object.assign(node, { length: options.size ?? available });
        steps.driverOpened();
        return node;
      }
      case 'qcow2': {
        const file = this.#resolveRef(options.file, readOnly, created, depth, flat, 'file', cache);
        steps.probeAttached();
        const node = this.#newNode(options, driver, readOnly, flat, cache);
        steps.driverOpens();
        this.#register(node, created, steps);
        this.#attach(node, 'file', file, steps);
        const read = (offset: number, length: number) => this.#readNode(file, offset, length);
        let header: Qcow2Header;
        let allocation: Qcow2AllocationMap;
        try {
          header = readQcow2Header(read);
          if (header.cryptMethod !== 0) throw notSimulated('encrypted qcow2 images');
          allocation = readQcow2AllocationMap(read, header, file.length);
        } catch (error) {
          if (error instanceof Qcow2FormatError) throw genericError(error.message);
          throw error;
        }
        Object.assign(node, {
          length: header.size,
          qcow2: header,
          allocation,
          autoBackingFile: header.backingFile ?? '',
        });
        // The backing file is opened after the driver's open (bdrv_open_backing_file).
        steps.driverOpened();
        if (options.backing !== undefined) {
          if (options.backing !== null) {
            const backing = this.#resolveRef(
              options.backing,
              true,
              created,
              depth,
              flat,
              'backing',
              cache,
            );
            this.#attach(node, 'backing', backing, steps);
          }
        } else if (header.backingFile !== undefined) {
          const backing = this.#openBackingFile(file, header, created, depth, cache);
          this.#attach(node, 'backing', backing, steps);
          node.autoBackingFile = refreshFilename(backing).filename;
        }
        this.#context.qcow2Opened(node);
        return node;
      }
      case 'blkdebug': {
        const node = this.#newNode(options, driver, readOnly, flat, cache);
        steps.driverOpens();
        const state = new BlkdebugState(options['inject-error'] ?? [], options['set-state'] ?? []);
        const align = options.align ?? 0;
        if (options.align !== undefined && (align < 1 || (align & (align - 1)) !== 0)) {
          throw genericError(`Cannot meet constraints with align ${align}`);
        }
        // Protocol-level drivers get their name before opening their child.
        this.#register(node, created, steps);
        const image = this.#resolveRef(
          options.image,
          readOnly,
          created,
          depth,
          flat,
          'image',
          cache,
        );
        Object.assign(node, { length: image.length, blkdebug: state });
        this.#attach(node, 'image', image, steps);
        steps.driverOpened();
        return node;
      }
    }
    throw notSimulated(`driver '${driver}'`);
  }

  #openBackingFile(
    file: MutableNode,
    header: Qcow2Header,
    created: MutableNode[],
    depth: number,
    cache: Inherited,
  ): MutableNode {
    const base = fileNodePath(file);
    const path = combinePath(base ?? '', header.backingFile as string);
    let format = header.backingFormat;
    try {
      format ??= probeImageFormat(this.#context.store, path);
      if (format !== 'qcow2' && format !== 'raw') {
        throw notSimulated(`backing files of format '${format}'`);
      }
      const file = { driver: 'file', filename: path } as const;
      const backingOptions: BlockdevOptions =
        format === 'qcow2' ? { driver: 'qcow2', file } : { driver: 'raw', file };
      return this.#open(
        backingOptions,
        true,
        created,
        depth + 1,
        flattenOptions(backingOptions),
        cache,
      );
    } catch (error) {
      if (CommandError.isInstance(error)) {
        throw genericError(`Could not open backing file: ${error.desc}`);
      }
      throw error;
    }
  }

  #readNode(node: BlockNode, offset: number, length: number): Uint8Array {
    switch (node.driver) {
      case 'file':
        return this.#context.store.read(node.filename as string, offset, length);
      case 'null-co':
        return new Uint8Array(length);
      case 'raw':
        return this.#readNode(
          node.file as BlockNode,
          offset + rawDataOffset(node as MutableNode),
          length,
        );
      case 'blkdebug':
        return this.#readNode(node.file as BlockNode, offset, length);
      case 'qcow2':
        throw notSimulated(`reading guest data of qcow2 node '${node.nodeName}'`);
    }
  }
}
