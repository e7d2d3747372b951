import * as errors from './errors.js';
import { binding, decodeSystemFailure } from './native.js';
import { makeView } from './PoolBuffer.js';
import { Status } from './types.js';
import type { TlsfBlock, TlsfPoolOptions, TlsfPoolStats } from './types.js';
import { sizeError, validateAlignment, validateInteger, validateObject, validateView } from './validate.js';

const native = binding.tlsf;
const { regionFactor: REGION_FACTOR, sysBase: SYS_BASE, maxRegions: MAX_REGIONS, regionMin: REGION_MIN } =
  native.constants;
/** Largest region area the allocator accepts. */
const MAX_AREA = native.constants.maxRequest + 24;
const PAGE = 4096;
const kRegion = Symbol('mempools.tlsf.region');

/** A region ArrayBuffer tagged with its region id (checked against the pool's own table). */
type RegionBuffer = ArrayBuffer & { [kRegion]?: number };

const roundUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/**
 * Two-Level Segregated Fit pool: O(1) alloc/free/memalign/realloc over one or
 * more mmap'd regions. Allocations are Buffer views of the region's external
 * ArrayBuffer; destroy() detaches them all.
 */
export class TlsfPool {
  readonly #handle: number;
  /** Keeps the native state alive for as long as this pool is reachable. */
  readonly #owner: object;
  /** Region ArrayBuffers by region id (undefined: no such region). */
  readonly #buffers: (RegionBuffer | undefined)[] = [];
  readonly #maxSize: number | undefined;
  #reserved = 0;
  #destroyed = false;
  /** Failures the C allocator counted for first attempts that growth then retried. */
  #retriedFailures = 0;

  constructor(options: TlsfPoolOptions) {
    validateObject(options, 'options');
    const size = roundUp(validateInteger(options.size, 'options.size', REGION_MIN, MAX_AREA), 8);
    if (options.maxSize !== undefined) {
      this.#maxSize = roundUp(validateInteger(options.maxSize, 'options.maxSize', options.size), 8);
    }
    const created = native.create();
    if (typeof created === 'number') throw TlsfPool.#systemError(created);
    [this.#handle, this.#owner] = created;
    const id = this.#mapRegion(size);
    if (id < 0) {
      native.destroy(this.#handle);
      throw TlsfPool.#systemError(id);
    }
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  alloc(size: number): Buffer {
    return this.#allocate(size, true)!;
  }

  /** Like alloc, but null instead of ERR_POOL_EXHAUSTED. */
  tryAlloc(size: number): Buffer | null {
    return this.#allocate(size, false);
  }

  calloc(count: number, size: number): Buffer {
    if (this.#destroyed) throw errors.destroyed();
    if (!Number.isSafeInteger(count) || count < 0) throw sizeError(count, 'count');
    if (!Number.isSafeInteger(size) || size < 0) throw sizeError(size, 'size');
    const total = count * size;
    if (!Number.isSafeInteger(total)) throw errors.outOfRange('count * size', `<= ${Number.MAX_SAFE_INTEGER}`, total);
    const attempt = (): number => native.calloc(this.#handle, count, size);
    const result = attempt();
    if (result >= 0) return this.#view(result, total);
    return this.#retry(result, total, total, attempt, true)!;
  }

  allocAligned(size: number, alignment: number): Buffer {
    if (this.#destroyed) throw errors.destroyed();
    if (!Number.isSafeInteger(size) || size < 0) throw sizeError(size, 'size');
    validateAlignment(alignment, 'alignment', 8, this.#maxAlignment());
    const attempt = (): number => native.memalign(this.#handle, size, alignment);
    const result = attempt();
    if (result >= 0) return this.#view(result, size);
    return this.#retry(result, size, size + alignment, attempt, true)!;
  }

  realloc(buf: Buffer, size: number): Buffer {
    if (this.#destroyed) throw errors.destroyed();
    const region = this.#regionOf(buf, 'buf');
    if (!Number.isSafeInteger(size) || size < 0) throw sizeError(size, 'size');
    const offset = buf.byteOffset;
    const attempt = (): number => native.realloc(this.#handle, region, offset, size);
    const result = attempt();
    if (result >= 0) return this.#view(result, size);
    return this.#retry(result, size, size, attempt, true)!;
  }

  free(buf: Buffer): void {
    if (this.#destroyed) throw errors.destroyed();
    const status = native.free(this.#handle, this.#regionOf(buf, 'buf'), buf.byteOffset);
    if (status !== Status.OK) throw errors.fromStatus(status);
  }

  /** Usable bytes of a live allocation (>= its length). */
  usableSize(buf: Buffer): number {
    if (this.#destroyed) throw errors.destroyed();
    const size = native.usableSize(this.#handle, this.#regionOf(buf, 'buf'), buf.byteOffset);
    if (size === 0) throw errors.foreignBuffer();
    return size;
  }

  /** Adds a region of `size` bytes (>= 64, rounded up to a multiple of 8); returns its id. */
  addRegion(size: number): number {
    if (this.#destroyed) throw errors.destroyed();
    const room = this.#maxSize === undefined ? MAX_AREA : Math.min(MAX_AREA, this.#maxSize - this.#reserved);
    const area = roundUp(validateInteger(size, 'size', REGION_MIN, Math.max(REGION_MIN, room)), 8);
    if (area > room) throw errors.outOfRange('size', `<= ${room} (the room left under maxSize)`, size);
    const id = this.#mapRegion(area);
    if (id === Status.FULL) throw errors.regionTableFull(MAX_REGIONS);
    if (id < 0) throw TlsfPool.#systemError(id);
    return id;
  }

  /** Removes an empty region, detaching its ArrayBuffer before its memory is unmapped. */
  removeRegion(id: number): void {
    if (this.#destroyed) throw errors.destroyed();
    validateInteger(id, 'id', 0, MAX_REGIONS - 1);
    const buffer = this.#buffers[id];
    if (buffer === undefined) throw errors.outOfRange('id', 'the id of a region of this pool', id);
    const area = buffer.byteLength;
    const status = native.removeRegion(this.#handle, id);
    if (status === Status.IN_USE) throw errors.inUse(id);
    if (status !== Status.OK) throw errors.fromStatus(status);
    this.#buffers[id] = undefined;
    this.#reserved -= area;
  }

  /** A snapshot of every block, in address order (regions in id order). */
  walk(): Iterable<TlsfBlock> {
    if (this.#destroyed) throw errors.destroyed();
    const raw = native.walk(this.#handle);
    if (typeof raw === 'number') throw errors.fromStatus(raw);
    const blocks: TlsfBlock[] = [];
    for (let i = 0; i < raw.length; i += 4) {
      blocks.push({ region: raw[i]!, offset: raw[i + 1]!, size: raw[i + 2]!, used: raw[i + 3] === 1 });
    }
    return blocks;
  }

  /** Full invariant check; throws ERR_POOL_CORRUPTED with the allocator's reason. */
  check(): void {
    if (this.#destroyed) throw errors.destroyed();
    const why = native.check(this.#handle);
    if (why !== null) throw errors.corrupted(why);
  }

  stats(): TlsfPoolStats {
    if (this.#destroyed) throw errors.destroyed();
    const [reserved, used, peakUsed, free, largestFree, allocations, failed, regions] = native.stats(this.#handle);
    return {
      capacity: this.#maxSize ?? this.#reserved,
      reserved: reserved!,
      used: used!,
      peakUsed: peakUsed!,
      allocations: allocations!,
      failedAllocations: failed! - this.#retriedFailures,
      free: free!,
      largestFree: largestFree!,
      regions: regions!,
    };
  }

  /** Frees all memory and detaches every view; idempotent. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    native.destroy(this.#handle);
    this.#buffers.length = 0;
    this.#reserved = 0;
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  #allocate(size: number, throwing: boolean): Buffer | null {
    if (this.#destroyed) throw errors.destroyed();
    if (!Number.isSafeInteger(size) || size < 0) throw sizeError(size, 'size');
    const result = native.alloc(this.#handle, size);
    if (result >= 0) return this.#view(result, size);
    return this.#retry(result, size, size, () => native.alloc(this.#handle, size), throwing);
  }

  #view(result: number, length: number): Buffer {
    const region = (result / REGION_FACTOR) | 0;
    return makeView(this.#buffers[region]!, result - region * REGION_FACTOR, length);
  }

  /** The region id of a view that lies in one of this pool's live region buffers. */
  #regionOf(buf: Buffer, name: string): number {
    validateView(buf, name);
    const region = (buf.buffer as RegionBuffer)[kRegion];
    if (region === undefined || this.#buffers[region] !== buf.buffer) throw errors.foreignBuffer();
    return region;
  }

  /**
   * The slow path of an allocating call that returned `status`: on NOMEM a
   * growable pool adds a region big enough for `need` bytes and retries once.
   */
  #retry(status: number, size: number, need: number, attempt: () => number, throwing: boolean): Buffer | null {
    let result = status;
    if (result === Status.NOMEM && this.#grow(need)) {
      this.#retriedFailures++;
      result = attempt();
      if (result >= 0) return this.#view(result, size);
    }
    if (result === Status.NOMEM && !throwing) return null;
    throw errors.fromStatus(result, size);
  }

  /** Adds a region for a request of `need` bytes within maxSize; false when none fits. */
  #grow(need: number): boolean {
    if (this.#maxSize === undefined) return false;
    const minimum = roundUp(need + 64, 8);
    const room = Math.min(MAX_AREA, this.#maxSize - this.#reserved);
    const area = Math.floor(Math.min(Math.max(roundUp(minimum, PAGE), this.#reserved), room) / 8) * 8;
    return area >= minimum && this.#mapRegion(area) >= 0;
  }

  /** Maps a region of `area` bytes and records its buffer; the region id or a negative code. */
  #mapRegion(area: number): number {
    const id = native.addRegion(this.#handle, area);
    if (id < 0) return id;
    const buffer: RegionBuffer = native.regionBuffer(this.#handle, id)!;
    buffer[kRegion] = id;
    this.#buffers[id] = buffer;
    this.#reserved += area;
    return id;
  }

  /** Largest alignment allocAligned accepts: the largest region (or maxSize, when growable). */
  #maxAlignment(): number {
    let largest = this.#maxSize ?? 0;
    for (const buffer of this.#buffers) if (buffer !== undefined) largest = Math.max(largest, buffer.byteLength);
    return Math.max(8, largest);
  }

  static #systemError(code: number): Error {
    const failure = decodeSystemFailure(code, SYS_BASE);
    return failure === undefined ? errors.fromStatus(code) : errors.system(failure.errno, failure.syscall);
  }
}
