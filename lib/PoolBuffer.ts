// The view class: a Uint8Array subclass whose prototype chain runs through
// Buffer.prototype, so Buffer.isBuffer() is true and every Buffer method
// works, at about half the cost of Buffer.from(arrayBuffer, offset, length).
export class PoolBuffer extends Uint8Array {}

Object.setPrototypeOf(PoolBuffer.prototype, Buffer.prototype);

/** A Buffer view of `length` bytes at `offset` of a region's ArrayBuffer. */
export function makeView(buffer: ArrayBuffer, offset: number, length: number): Buffer {
  return new PoolBuffer(buffer, offset, length) as unknown as Buffer;
}
