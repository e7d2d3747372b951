// Argument validation. The hot paths inline the cheap test
// (Number.isSafeInteger(x) && x >= 0) and call sizeError() only to build the
// error once it failed.
import { invalidArgType, outOfRange } from './errors.js';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** The error for a value that failed the non-negative safe integer test. */
export function sizeError(value: unknown, name: string, min = 0, max = MAX_SAFE): Error {
  if (typeof value !== 'number') return invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) return outOfRange(name, 'an integer', value);
  return outOfRange(name, `>= ${min} && <= ${max}`, value);
}

/** An integer in [min, max]. */
export function validateInteger(value: unknown, name: string, min = 0, max = MAX_SAFE): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw sizeError(value, name, min, max);
  }
  return value;
}

/** A power of two in [min, max]. */
export function validateAlignment(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value) || value < min || value > max || 2 ** Math.round(Math.log2(value)) !== value) {
    throw outOfRange(name, `a power of two >= ${min} && <= ${max}`, value);
  }
  return value;
}

/** A real Uint8Array (or Buffer): not an object that merely inherits from one (Object.create(view)). */
export function validateView(value: unknown, name: string): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array) || !ArrayBuffer.isView(value)) {
    throw invalidArgType(name, 'an instance of Buffer or Uint8Array', value);
  }
}

/** An options object, as Node's validateObject: not null and not an array. */
export function validateObject(value: unknown, name: string): asserts value is object {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidArgType(name, 'of type object', value);
  }
}

/** calloc's arguments: count * size as a safe integer (a RangeError when it overflows). */
export function validateCallocTotal(count: unknown, size: unknown): number {
  if (!Number.isSafeInteger(count) || (count as number) < 0) throw sizeError(count, 'count');
  if (!Number.isSafeInteger(size) || (size as number) < 0) throw sizeError(size, 'size');
  const total = (count as number) * (size as number);
  if (!Number.isSafeInteger(total)) throw outOfRange('count * size', `<= ${MAX_SAFE}`, total);
  return total;
}

export function validateFunction(value: unknown, name: string): asserts value is () => unknown {
  if (typeof value !== 'function') throw invalidArgType(name, 'of type function', value);
}

/** An optional boolean (undefined: `fallback`). */
export function validateOptionalBoolean(value: unknown, name: string, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

/** A { chunk, offset } block handle (NativeBlock): both non-negative safe integers. */
export function validateNativeBlock(value: unknown, name: string): { chunk: number; offset: number } {
  validateObject(value, name);
  const { chunk, offset } = value as { chunk?: unknown; offset?: unknown };
  return { chunk: validateInteger(chunk, `${name}.chunk`), offset: validateInteger(offset, `${name}.offset`) };
}

/** The arguments of a pool's viewOf(where, length): where's chunk and offset (length checked too). */
export function validateViewOf(where: unknown, length: unknown): { chunk: number; offset: number } {
  const block = validateNativeBlock(where, 'where');
  validateInteger(length, 'length');
  return block;
}
