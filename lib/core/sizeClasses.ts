// Size classes of the JavaScript-side free-list cache (see FreeListCache.ts, beside this file):
// 16..128 bytes in steps of 16, then 8 classes per power of two up to
// CACHE_MAX (16 KiB). A request is served at its class size (at most 12.5 %
// more than asked), so a freed block always fits every request of its class.

/** Largest usable size the cache keeps. */
export const CACHE_MAX = 16384;

const sizes: number[] = [];
for (let size = 16; size <= 128; size += 16) sizes.push(size);
for (let base = 128; base < CACHE_MAX; base *= 2) for (let i = 1; i <= 8; i++) sizes.push(base + (i * base) / 8);

/** Class sizes, ascending; the last is CACHE_MAX. */
export const CLASS_SIZE = Int32Array.from(sizes);
export const CLASS_COUNT = CLASS_SIZE.length;

/**
 * The lookup table of a class list (ascending multiples of 16): table[ceil(n / 16)]
 * is the smallest class whose size is >= n, for every n <= max (a class size).
 * Shared by the TLSF classes here and the heap pool's classes (HeapPool.ts).
 */
export function ceilTable(classSizes: ArrayLike<number>, max: number): Uint8Array {
  const table = new Uint8Array(max / 16 + 1);
  for (let q = 0, c = 0; q < table.length; q++) {
    while (classSizes[c]! < q * 16) c++;
    table[q] = c;
  }
  return table;
}

/** CEIL[ceil(n / 16)] = the smallest class whose size is >= n. */
const CEIL = ceilTable(CLASS_SIZE, CACHE_MAX);

/** The class a request of n <= CACHE_MAX bytes is served from. */
export function ceilClass(n: number): number {
  return CEIL[(n + 15) >>> 4]!;
}

/** The class a block of usable size 16 <= u <= CACHE_MAX goes back to: the largest whose size is <= u. */
export function floorClass(u: number): number {
  const c = CEIL[(u + 15) >>> 4]!;
  return CLASS_SIZE[c] === u ? c : c - 1;
}
