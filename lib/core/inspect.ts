// How pools and their views look in util.inspect / console.log:
//   TlsfPool { capacity: 1048576, reserved: ..., used: 64, allocations: 1, ... }   (its stats())
//   <TlsfPool view offset=128 length=64 68 65 6c 6c 6f ... 59 more bytes>
// A view names the kind of pool it came from; pools register the owner objects
// they give their views (ownedBy), or the token their chunks point to (chunk.pool).
import { type InspectOptionsStylized, inspect } from 'node:util';

import { PoolBuffer, viewOffset, viewOwner } from './PoolBuffer.js';

export type PoolKind = 'TlsfPool' | 'RegionPool' | 'HeapPool' | 'SharedPool';

const kinds = new WeakMap<object, PoolKind>();

/**
 * A pool's owner token: the object its chunk records carry as `pool` (a view of
 * another pool, or of this pool's older native pool, lacks it). Unique per pool,
 * and it names the pool's kind itself: no WeakMap entry per pool (a
 * `new RegionPool()` per request would pay ≈ 0.4 µs for one).
 */
export class PoolToken {
  constructor(readonly kind: PoolKind) {}
}

/** Registers `owner` (a view owner that is no PoolToken: a TLSF region) as `kind`'s; returns it. */
export function ownedBy<T extends object>(kind: PoolKind, owner: T): T {
  kinds.set(owner, kind);
  return owner;
}

/** The kind of pool a view came from, or undefined for a view no pool made (subarray() and friends). */
export function viewKind(view: Uint8Array): PoolKind | undefined {
  const owner = viewOwner(view);
  if (typeof owner !== 'object' || owner === null) return undefined;
  if (owner instanceof PoolToken) return owner.kind;
  const pool = (owner as { pool?: object }).pool;
  if (pool instanceof PoolToken) return pool.kind;
  return kinds.get(owner);
}

type InspectFn = typeof inspect;

/** A pool's util.inspect: its kind, then its stats() (or the error stats() threw) as its own fields. */
export function inspectPool(
  kind: PoolKind,
  stats: () => object,
  depth: number,
  options: InspectOptionsStylized,
  inspectFn: InspectFn = inspect,
): string {
  if (depth < 0) return options.stylize(`[${kind}]`, 'special');
  let shown: object;
  try {
    shown = stats();
  } catch (error) {
    shown = { error: (error as { code?: string }).code ?? String(error) };
  }
  // the stats are shown as the pool's own fields: at the depth left for the pool itself
  return `${kind} ${inspectFn(shown, { ...options, depth: options.depth === null ? null : depth })}`;
}

// Buffer's own inspect prints `<${constructor.name} bytes...>`: for a pool's
// view that would be `<PoolBuffer ...>`. Here it names the pool kind, the
// view's offset in its chunk (in the segment, for a SharedPool) and its length.
const bufferInspect = (Buffer.prototype as unknown as Record<symbol, (...args: unknown[]) => string>)[inspect.custom];

Object.defineProperty(PoolBuffer.prototype, inspect.custom, {
  configurable: true,
  writable: true,
  value: function inspectView(this: PoolBuffer, depth: number, options: InspectOptionsStylized, inspectFn: InspectFn) {
    const base = bufferInspect ? bufferInspect.call(this, depth, options, inspectFn) : `<PoolBuffer ${this.length}>`;
    const kind = viewKind(this);
    const head = kind === undefined ? '<Buffer' : `<${kind} view offset=${viewOffset(this)} length=${this.length}`;
    return base.startsWith('<PoolBuffer') ? head + base.slice('<PoolBuffer'.length) : base;
  },
});
