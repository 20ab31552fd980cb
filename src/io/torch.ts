import { DensekitError } from '../util/errors.js';
import { ZipReader, type ZipReaderOptions } from './zip.js';
import type { ReadStats } from './file-io.js';
import { PickleError, PyDict, isGlobalRef, unpickle, type GlobalHandler } from './pickle.js';
import { BYTES_PER_ELEMENT, MAX_TYPED_LENGTH, numel, typedOver, type HostDType, type HostTensor } from './host-tensor.js';

/**
 * Reader for PyTorch's zip checkpoint format (torch.save since 1.6):
 * `<archive>/data.pkl` is a pickle whose tensors point, through persistent
 * ids, at raw storages `<archive>/data/<key>`. The pickle is read with the
 * restricted unpickler: only the globals a state dict needs are known.
 */

const STORAGE_DTYPES: Record<string, HostDType> = {
  FloatStorage: 'float32',
  DoubleStorage: 'float64',
  HalfStorage: 'float16',
  BFloat16Storage: 'bfloat16',
  LongStorage: 'int64',
  IntStorage: 'int32',
  ShortStorage: 'int16',
  CharStorage: 'int8',
  ByteStorage: 'uint8',
  BoolStorage: 'bool',
};

class StorageRef {
  constructor(
    readonly key: string,
    readonly dtype: HostDType,
    readonly numel: number,
  ) {}
}

/** A tensor in the checkpoint, not yet read from the archive. */
export class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
  get dtype(): HostDType {
    return this.storage.dtype;
  }
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x))) {
    throw new PickleError(`${what} is not a tuple of integers`);
  }
  return v as number[];
}

function rebuildTensor(args: unknown[]): TensorRef {
  const [storage, offset, size, stride] = args;
  if (!(storage instanceof StorageRef)) throw new PickleError('_rebuild_tensor_v2: first argument is not a storage');
  if (typeof offset !== 'number') throw new PickleError('_rebuild_tensor_v2: storage offset is not an integer');
  return new TensorRef(storage, offset, intList(size, 'tensor size'), intList(stride, 'tensor stride'));
}

/** The only globals a checkpoint may name. Each builds data; none runs code from the file. */
function torchGlobals(): Record<string, GlobalHandler> {
  const g: Record<string, GlobalHandler> = {
    'collections.OrderedDict': (args) => {
      const d = new PyDict();
      const items = args[0];
      if (Array.isArray(items)) for (const kv of items) if (Array.isArray(kv) && kv.length === 2) d.set(kv[0], kv[1]);
      return d;
    },
    'torch._utils._rebuild_tensor_v2': rebuildTensor,
    'torch._utils._rebuild_tensor': rebuildTensor,
    'torch._utils._rebuild_parameter': (args) => args[0],
    'torch._utils._rebuild_parameter_with_state': (args) => args[0],
  };
  // Storage classes are only *named* (inside persistent ids), never called.
  for (const name of Object.keys(STORAGE_DTYPES)) {
    g[`torch.${name}`] = () => {
      throw new PickleError(`torch.${name} may only appear inside a storage persistent id`);
    };
  }
  return g;
}

/** An opened PyTorch checkpoint: its object tree (tensors as `TensorRef`) and a way to read tensors. */
export class TorchCheckpoint {
  readonly root: unknown;
  private readonly zip: ZipReader;
  private readonly prefix: string;

  constructor(
    readonly path: string,
    opts: ZipReaderOptions = {},
  ) {
    this.zip = new ZipReader(path, opts);
    try {
      const pkl = [...this.zip.entries.keys()].find((n) => n.endsWith('data.pkl') && n.split('/').length === 2);
      if (!pkl) {
        throw new DensekitError('no <archive>/data.pkl member: not a PyTorch zip checkpoint (legacy pre-1.6 files are not supported)', {
          file: path,
        });
      }
      this.prefix = pkl.slice(0, -'data.pkl'.length);
      const byteorder = this.zip.has(`${this.prefix}byteorder`) ? this.zip.readEntry(`${this.prefix}byteorder`).toString('utf8').trim() : 'little';
      if (byteorder !== 'little') throw new DensekitError(`byteorder ${byteorder} is not supported`, { file: path });
      const globals = torchGlobals();
      this.root = unpickle(this.zip.readEntry(pkl), {
        globals,
        persistentLoad: (pid) => this.persistentLoad(pid),
      });
    } catch (err) {
      this.zip.close();
      if (err instanceof PickleError) throw new DensekitError(err.message, { file: path });
      throw err;
    }
  }

  /** What has been read from the archive so far. */
  get readStats(): ReadStats {
    return this.zip.stats;
  }

  private persistentLoad(pid: unknown): StorageRef {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) throw new PickleError('unknown persistent id (expected a storage)');
    const [, storageType, key, , count] = pid as [string, unknown, unknown, unknown, unknown];
    const typeName = isGlobalRef(storageType) && storageType.name.startsWith('torch.') ? storageType.name.slice(6) : '';
    const dtype = STORAGE_DTYPES[typeName];
    if (!dtype) throw new PickleError('persistent id names something that is not a storage type');
    if (typeof key !== 'string' || typeof count !== 'number') throw new PickleError('malformed storage persistent id');
    const member = `${this.prefix}data/${key}`;
    if (!this.zip.has(member)) throw new PickleError(`storage ${key} is missing from the archive (truncated?)`);
    return new StorageRef(key, dtype, count);
  }

  /**
   * Read one tensor's data (row-major, contiguous) from the archive. A
   * contiguous tensor reads only its own bytes of the storage, straight into
   * its typed array (in bounded reads, at any offset in the file); a strided
   * view reads its whole storage and gathers.
   */
  readTensor(ref: TensorRef, name = 'tensor'): HostTensor {
    const bpe = BYTES_PER_ELEMENT[ref.dtype];
    const member = `${this.prefix}data/${ref.storage.key}`;
    const stored = this.zip.entries.get(member)?.size ?? 0;
    if (stored < ref.storage.numel * bpe) {
      throw new DensekitError(`storage ${ref.storage.key} has ${stored} bytes, needs ${ref.storage.numel * bpe}`, { file: this.path, key: name });
    }
    if (ref.shape.some((d) => d < 0) || ref.stride.some((d) => d < 0) || ref.offset < 0 || ref.stride.length !== ref.shape.length) {
      throw new DensekitError(`malformed tensor view (size [${ref.shape}], stride [${ref.stride}], offset ${ref.offset})`, { file: this.path, key: name });
    }
    const n = numel(ref.shape);
    if (n > MAX_TYPED_LENGTH) {
      throw new DensekitError(`${n} elements is more than one typed array can hold (${MAX_TYPED_LENGTH})`, { file: this.path, key: name });
    }
    const contiguous = ref.stride.every((s, i) => s === ref.shape.slice(i + 1).reduce((a, b) => a * b, 1) || ref.shape[i] === 1);
    let maxIndex = ref.offset;
    for (let i = 0; i < ref.shape.length; i++) maxIndex += (ref.shape[i]! - 1) * ref.stride[i]!;
    if (n > 0 && maxIndex >= ref.storage.numel) {
      throw new DensekitError(`tensor view reaches element ${maxIndex} of a ${ref.storage.numel}-element storage`, { file: this.path, key: name });
    }
    if (n === 0) return { dtype: ref.dtype, shape: [...ref.shape], data: typedOver(ref.dtype, new ArrayBuffer(0)) };
    if (contiguous) {
      const bytes = this.zip.readEntryRange(member, ref.offset * bpe, n * bpe);
      return { dtype: ref.dtype, shape: [...ref.shape], data: typedOver(ref.dtype, bytes) };
    }
    const raw = this.zip.readEntry(member);
    // Strided view: copy element by element into row-major order.
    const out = new Uint8Array(n * bpe);
    const idx = new Array<number>(ref.shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let src = ref.offset;
      for (let d = 0; d < idx.length; d++) src += idx[d]! * ref.stride[d]!;
      out.set(raw.subarray(src * bpe, (src + 1) * bpe), i * bpe);
      for (let d = idx.length - 1; d >= 0; d--) {
        if (++idx[d]! < ref.shape[d]!) break;
        idx[d] = 0;
      }
    }
    return { dtype: ref.dtype, shape: [...ref.shape], data: typedOver(ref.dtype, out.buffer) };
  }

  /**
   * The state dict inside: `root['model']`, else `root['module']`, else
   * `root['state_dict']`, else the root itself (as the BEiT-3 loaders do).
   * Returns tensor references by name; read them with `readTensor`.
   */
  stateDictRefs(): Map<string, TensorRef> {
    let sd: unknown = this.root;
    if (sd instanceof PyDict) {
      for (const k of ['model', 'module', 'state_dict']) {
        if (sd.get(k) instanceof PyDict) {
          sd = sd.get(k);
          break;
        }
      }
    }
    if (!(sd instanceof PyDict)) throw new DensekitError('checkpoint holds no dict of tensors', { file: this.path });
    const out = new Map<string, TensorRef>();
    for (const [k, v] of sd) {
      if (typeof k === 'string' && v instanceof TensorRef) out.set(k, v);
    }
    if (out.size === 0) throw new DensekitError('checkpoint holds no tensors under model/module/state_dict or at its root', { file: this.path });
    return out;
  }

  /** Read every tensor of the state dict (or those `filter` keeps). */
  readStateDict(filter: (name: string) => boolean = () => true): Map<string, HostTensor> {
    const out = new Map<string, HostTensor>();
    for (const [k, ref] of this.stateDictRefs()) if (filter(k)) out.set(k, this.readTensor(ref, k));
    return out;
  }

  close(): void {
    this.zip.close();
  }
}

/** Read a PyTorch checkpoint's state dict. */
export function readTorchStateDict(path: string, filter?: (name: string) => boolean): Map<string, HostTensor> {
  const ckpt = new TorchCheckpoint(path);
  try {
    return ckpt.readStateDict(filter);
  } finally {
    ckpt.close();
  }
}
