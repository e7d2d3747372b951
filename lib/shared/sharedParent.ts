/**
 * Links between a SharedPool and the HeapPools that borrow chunks from its
 * segment (`new HeapPool({ parent: sharedPool })`), kept out of both classes
 * so that SharedPool never imports HeapPool.
 *
 * A SharedPool registers its segment here when it is made; a HeapPool with a
 * SharedPool parent registers itself as a child (closed first by close()) and
 * records each chunk ArrayBuffer's area offset, so SharedPool.offsetOf gives
 * the offset every process can pass to at().
 */
import { binding } from '../core/native.js';

/** What a SharedPool closes before itself. */
export interface SharedChild {
  destroy(options?: { unsafeDetachViews?: boolean }): void;
}

/** One SharedPool's mapping, as its heap children see it. */
export interface Segment {
  readonly handle: number;
  /** The SharedPool's owner token: names the mapping (never exposed to users). */
  readonly token: object;
  readonly closed: () => boolean;
  readonly children: Set<WeakRef<SharedChild>>;
}

const segments = new WeakMap<object, Segment>();
/** Area offset and mapping of every chunk ArrayBuffer of a shared-parent HeapPool, and whose chunk it is. */
interface SharedChunk {
  readonly token: object;
  readonly areaOffset: number;
  readonly heap: number;
  readonly id: number;
}
const chunks = new WeakMap<ArrayBuffer, SharedChunk>();

export function registerSegment(pool: object, handle: number, token: object, closed: () => boolean): void {
  segments.set(pool, { handle, token, closed, children: new Set() });
}

export function segmentOf(pool: object): Segment | undefined {
  return segments.get(pool);
}

export function addSharedChild(segment: Segment, child: SharedChild, ref: WeakRef<SharedChild>): void {
  for (const other of segment.children) if (other.deref() === undefined) segment.children.delete(other);
  if (ref.deref() === child) segment.children.add(ref);
}

export function deleteSharedChild(segment: Segment, ref: WeakRef<SharedChild>): void {
  segment.children.delete(ref);
}

/** Destroys the heap pools that borrow from the mapping named by `token` (close() calls it first). */
export function destroySharedChildren(pool: object, unsafeDetachViews: boolean): void {
  const segment = segments.get(pool);
  if (segment === undefined) return;
  for (const ref of [...segment.children]) ref.deref()?.destroy({ unsafeDetachViews });
  segment.children.clear();
}

/** Records chunk `id` of the heap pool `heap` (a handle), lent by `segment` at `areaOffset`. */
export function recordSharedChunk(
  buffer: ArrayBuffer,
  segment: Segment,
  areaOffset: number,
  heap: number,
  id: number,
): void {
  chunks.set(buffer, { token: segment.token, areaOffset, heap, id });
}

/**
 * The area offset of a view of a heap chunk lent by the mapping `token`, else
 * undefined (also once the chunk went back: its views outlive it, but its
 * offsets name another block by then).
 */
export function sharedChunkOffset(view: ArrayBufferView, token: object): number | undefined {
  const place = chunks.get(view.buffer as ArrayBuffer);
  if (
    place === undefined ||
    place.token !== token ||
    !binding.isChunkBuffer(place.heap, place.id, view.buffer as ArrayBuffer)
  ) {
    return undefined;
  }
  return place.areaOffset + view.byteOffset;
}
