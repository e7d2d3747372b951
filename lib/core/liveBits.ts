// Bitmaps of 32-bit words, one bit per granule of a chunk: the live bitmaps of
// TlsfPool regions (1 bit / 8 B) and HeapPool chunks (1 bit / 16 B), the
// parked bitmap of a SharedCache. Small on purpose: V8 inlines each of these
// into the pools' alloc and free paths, so they cost what the expression did.

/** Sets bit `bit` (the caller divides the offset by the granule). */
export function setBit(bits: Int32Array, bit: number): void {
  bits[bit >>> 5]! |= 1 << (bit & 31);
}

/** Clears bit `bit`. */
export function clearBit(bits: Int32Array, bit: number): void {
  bits[bit >>> 5]! &= ~(1 << (bit & 31));
}

/** Toggles bit `bit`. */
export function flipBit(bits: Int32Array, bit: number): void {
  bits[bit >>> 5]! ^= 1 << (bit & 31);
}

/** Whether bit `bit` is set. */
export function hasBit(bits: Int32Array, bit: number): boolean {
  return (bits[bit >>> 5]! & (1 << (bit & 31))) !== 0;
}
