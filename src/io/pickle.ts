/**
 * A restricted pickle reader. It understands the opcodes a PyTorch state
 * dict is written with and builds plain JS values from them; it *never*
 * calls anything named by the pickle. Globals are resolved through an
 * explicit table supplied by the caller; any other global, and any opcode not
 * listed here, is an error. (A pickle is a program: reading it with Python's
 * own unpickler executes whatever it names.)
 */

/** A Python dict or OrderedDict, keys kept in insertion order. */
export class PyDict extends Map<unknown, unknown> {
  /** State set by BUILD (e.g. a state dict's `_metadata`); kept, not interpreted. */
  state?: unknown;
}

/** A Python tuple (distinguished from a list only where it matters). */
export type PyTuple = unknown[];

export class PickleError extends Error {}

/** A whitelisted callable: receives the REDUCE arguments, returns a value. */
export type GlobalHandler = (args: unknown[]) => unknown;

export interface UnpickleOptions {
  /** `module.name` → handler. Anything absent is refused. */
  globals: Record<string, GlobalHandler>;
  /** Resolves BINPERSID ids (PyTorch uses them for tensor storages). */
  persistentLoad?: (pid: unknown) => unknown;
}

/** A resolved, whitelisted global as it sits on the stack before REDUCE. */
export interface GlobalRef {
  readonly kind: 'global';
  readonly name: string;
  readonly handler: GlobalHandler;
}

export function isGlobalRef(v: unknown): v is GlobalRef {
  return typeof v === 'object' && v !== null && (v as { kind?: unknown }).kind === 'global';
}

const MARK = Symbol('mark');

export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = 0;
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number): void => {
    if (pos + n > bytes.byteLength) throw new PickleError(`pickle ends unexpectedly at byte ${pos} (truncated)`);
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const i32 = (): number => {
    need(4);
    const v = view.getInt32(pos, true);
    pos += 4;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = Number(view.getBigUint64(pos, true));
    pos += 8;
    return v;
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const s = bytes.subarray(pos, pos + n);
    pos += n;
    return s;
  };
  const str = (n: number): string => Buffer.from(take(n)).toString('utf8');
  const line = (): string => {
    const start = pos;
    while (pos < bytes.byteLength && bytes[pos] !== 0x0a) pos++;
    if (pos >= bytes.byteLength) throw new PickleError('pickle ends inside a GLOBAL name (truncated)');
    return Buffer.from(bytes.subarray(start, pos++)).toString('utf8');
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw new PickleError('pickle stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw new PickleError('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new PickleError('pickle MARK missing');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const resolveGlobal = (module: string, name: string): GlobalRef => {
    const full = `${module}.${name}`;
    const handler = opts.globals[full];
    if (!handler) {
      throw new PickleError(`refusing global ${full}: only tensors, storages and plain containers are allowed in a checkpoint`);
    }
    return { kind: 'global', name: full, handler };
  };
  const setItems = (target: unknown, items: unknown[]): void => {
    if (!(target instanceof PyDict)) throw new PickleError('SETITEM(S) on a non-dict');
    for (let i = 0; i + 1 < items.length; i += 2) target.set(items[i], items[i + 1]);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME
        u64();
        break;
      case 0x2e: // STOP '.'
        if (stack.length !== 1) throw new PickleError(`pickle STOP with ${stack.length} items on the stack`);
        return stack[0];
      case 0x28: // MARK '('
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT '}'
        stack.push(new PyDict());
        break;
      case 0x5d: // EMPTY_LIST ']'
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE ')'
        stack.push([]);
        break;
      case 0x74: // TUPLE 't'
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push([a, b]);
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push([a, b, c]);
        break;
      }
      case 0x6c: // LIST 'l'
        stack.push(popMark());
        break;
      case 0x64: {
        // DICT 'd'
        const d = new PyDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: {
        // APPEND 'a'
        const v = pop();
        const l = top();
        if (!Array.isArray(l)) throw new PickleError('APPEND on a non-list');
        l.push(v);
        break;
      }
      case 0x65: {
        // APPENDS 'e'
        const items = popMark();
        const l = top();
        if (!Array.isArray(l)) throw new PickleError('APPENDS on a non-list');
        l.push(...items);
        break;
      }
      case 0x73: {
        // SETITEM 's'
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS 'u'
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x4a: // BININT 'J'
        stack.push(i32());
        break;
      case 0x4b: // BININT1 'K'
        stack.push(u8());
        break;
      case 0x4d: // BININT2 'M'
        stack.push(u16());
        break;
      case 0x8a: {
        // LONG1
        const n = u8();
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
        if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x47: {
        // BINFLOAT 'G' (big-endian)
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      }
      case 0x58: // BINUNICODE 'X'
        stack.push(str(u32()));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(u8()));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(str(u64()));
        break;
      case 0x54: // BINSTRING 'T'
        stack.push(str(i32()));
        break;
      case 0x55: // SHORT_BINSTRING 'U'
        stack.push(str(u8()));
        break;
      case 0x42: // BINBYTES 'B'
        stack.push(take(u32()));
        break;
      case 0x43: // SHORT_BINBYTES 'C'
        stack.push(take(u8()));
        break;
      case 0x4e: // NONE 'N'
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x71: // BINPUT 'q'
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT 'r'
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET 'h'
      case 0x6a: {
        // LONG_BINGET 'j'
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) throw new PickleError(`memo key ${k} missing`);
        stack.push(memo.get(k));
        break;
      }
      case 0x30: // POP '0'
        pop();
        break;
      case 0x31: // POP_MARK '1'
        popMark();
        break;
      case 0x32: // DUP '2'
        stack.push(top());
        break;
      case 0x63: {
        // GLOBAL 'c'
        const module = line();
        const name = line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw new PickleError('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x52: {
        // REDUCE 'R'
        const args = pop();
        const fn = pop() as GlobalRef;
        if (!fn || (fn as { kind?: string }).kind !== 'global') throw new PickleError('REDUCE of something that is not a whitelisted global');
        if (!Array.isArray(args)) throw new PickleError('REDUCE arguments are not a tuple');
        stack.push(fn.handler(args));
        break;
      }
      case 0x62: {
        // BUILD 'b'
        const state = pop();
        const obj = top();
        if (obj instanceof PyDict) obj.state = state;
        else if (obj === null || typeof obj !== 'object') throw new PickleError('BUILD on a value that takes no state');
        break;
      }
      case 0x51: {
        // BINPERSID 'Q'
        const pid = pop();
        if (!opts.persistentLoad) throw new PickleError('persistent ids are not allowed here');
        stack.push(opts.persistentLoad(pid));
        break;
      }
      default:
        throw new PickleError(`refusing pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${pos - 1}: not needed for a tensor state dict`);
    }
  }
}
