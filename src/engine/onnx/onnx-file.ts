import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.js';
import { encodeModel, type OnnxModel, type OnnxTensor } from './proto.js';

/** Initializers at least this large live in the `.onnx.data` file beside the graph. */
const EXTERNAL_MIN_BYTES = 1024;
/** Large tensors start on a page boundary there, so a runtime can map them. */
const PAGE = 4096;

/**
 * Write `path` (the graph) and, when it has large initializers, `path.data`
 * beside it (ONNX external data, offsets relative to that file): a protobuf
 * message stops at 2 GiB, and weights of large models do not fit in one.
 * Both files are written to temp names and renamed into place.
 */
export function writeOnnxModel(path: string, model: OnnxModel): { graphBytes: number; dataBytes: number } {
  mkdirSync(dirname(path), { recursive: true });
  const dataName = `${basename(path)}.data`;
  const dataPath = join(dirname(path), dataName);
  const tmp = join(dirname(path), `.${dataName}.${process.pid}.tmp`);
  let offset = 0;
  const initializers: OnnxTensor[] = [];
  let fd: number | undefined;
  try {
    for (const t of model.graph.initializers) {
      if (!(t.data instanceof Uint8Array) || t.data.byteLength < EXTERNAL_MIN_BYTES) {
        initializers.push(t);
        continue;
      }
      fd ??= openSync(tmp, 'w');
      const align = t.data.byteLength >= 16 * PAGE ? PAGE : 64;
      offset = Math.ceil(offset / align) * align;
      let done = 0;
      while (done < t.data.byteLength) done += writeSync(fd, t.data, done, t.data.byteLength - done, offset + done);
      initializers.push({ ...t, data: { location: dataName, offset, length: t.data.byteLength } });
      offset += t.data.byteLength;
    }
    if (fd !== undefined) {
      fsyncSync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, dataPath);
    }
  } catch (err) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  const bytes = encodeModel({ ...model, graph: { ...model.graph, initializers } });
  writeFileAtomic(path, bytes);
  return { graphBytes: bytes.byteLength, dataBytes: offset };
}
