import { basename, dirname, join } from 'node:path';
import { writeFileAtomic } from '../util/atomic-write.js';
import { writeFileAtomicStream } from './file-io.js';
import { encodeModel, type OnnxModel, type OnnxTensor } from '../engine/onnx/proto.js';

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
  const dataName = `${basename(path)}.data`;
  const external = new Set<OnnxTensor>();
  const placed: OnnxTensor[] = [];
  let offset = 0;
  for (const t of model.graph.initializers) {
    if (!(t.data instanceof Uint8Array) || t.data.byteLength < EXTERNAL_MIN_BYTES) {
      placed.push(t);
      continue;
    }
    const align = t.data.byteLength >= 16 * PAGE ? PAGE : 64;
    offset = Math.ceil(offset / align) * align;
    external.add(t);
    placed.push({ ...t, data: { location: dataName, offset, length: t.data.byteLength } });
    offset += t.data.byteLength;
  }
  if (external.size > 0) {
    writeFileAtomicStream(join(dirname(path), dataName), (sink) => {
      let at = 0;
      for (const t of external) {
        const bytes = t.data as Uint8Array;
        const align = bytes.byteLength >= 16 * PAGE ? PAGE : 64;
        const start = Math.ceil(at / align) * align;
        if (start > at) sink.write(new Uint8Array(start - at));
        sink.write(bytes);
        at = start + bytes.byteLength;
      }
    });
  }
  const bytes = encodeModel({ ...model, graph: { ...model.graph, initializers: placed } });
  writeFileAtomic(path, bytes);
  return { graphBytes: bytes.byteLength, dataBytes: offset };
}
