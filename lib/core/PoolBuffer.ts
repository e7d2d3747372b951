// The view class: a Uint8Array subclass whose prototype chain runs through
// Buffer.prototype, so Buffer.isBuffer() is true and every Buffer method
// works, at a fraction of the cost of Buffer.from(arrayBuffer, offset, length).
//
// A view a pool makes also remembers, in private fields nobody else can set,
// the pool's token for its chunk, its byte offset and a pool-specific number
// (the tag: RegionPool keeps the allocation's generation there; TlsfPool and
// SharedPool's cached path the usable size the allocator gave the block, which
// their free caches trust instead of the block's header): reading those costs ~3 ns,
// where `view.buffer` and `view.byteOffset` cost ~33 and ~17 ns on Node 20.
// Views made any other way (subarray() and friends call this constructor with
// three arguments) have no owner, and pools fall back to buffer and byteOffset.

let ownerOf: (view: Uint8Array) => unknown;
let offsetOf: (view: PoolBuffer) => number;
let tagOf: (view: PoolBuffer) => number;

export class PoolBuffer extends Uint8Array {
  #owner: unknown;
  #offset: number;
  #tag: number;

  constructor(buffer: ArrayBuffer, offset: number, length: number, owner?: unknown, tag = 0) {
    super(buffer, offset, length);
    this.#owner = owner;
    this.#offset = offset;
    this.#tag = tag;
  }

  static {
    ownerOf = (view) => (#owner in view ? view.#owner : undefined);
    offsetOf = (view) => view.#offset;
    tagOf = (view) => view.#tag;
  }
}

Object.setPrototypeOf(PoolBuffer.prototype, Buffer.prototype);

/** A Buffer view of `length` bytes at `offset` of a chunk's ArrayBuffer, owned by `owner`, with a pool-specific tag. */
export function makeView(buffer: ArrayBuffer, offset: number, length: number, owner: unknown, tag = 0): Buffer {
  return new PoolBuffer(buffer, offset, length, owner, tag) as unknown as Buffer;
}

/** The owner token a pool gave the view, or undefined for any other Uint8Array. */
export function viewOwner(view: Uint8Array): unknown {
  return ownerOf(view);
}

/** The byte offset of a view that has an owner (viewOwner(view) !== undefined). */
export function viewOffset(view: Uint8Array): number {
  return offsetOf(view as PoolBuffer);
}

/** The tag of a view that has an owner (viewOwner(view) !== undefined). */
export function viewTag(view: Uint8Array): number {
  return tagOf(view as PoolBuffer);
}
