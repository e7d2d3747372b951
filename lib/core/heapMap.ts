// The heap map: an SVG picture of a pool's chunks (one row each, address left to
// right) built from its walk. Every pool's heapMap() and the CLI's `map` use it.
//
// Each row is a <g class="row" data-bytes="B"> of `width` pixels; each rectangle says
// which bytes it stands for (data-start, data-bytes: the byte offset in the row and the
// byte count), so a row's data-bytes add up to exactly B, with or without aggregation;
// its pixels are x = data-start * width / B (rounded to 1/1000 px; widths are
// differences of rounded positions, so the rectangles tile the row exactly). Pixel
// coordinates, not a byte-scaled transform: renderers (resvg) drop tiny scale factors.
// Aggregation rule: runs of adjacent blocks in one state are one rectangle; a row
// with more runs than `width` pixels is cut into `width` cells of floor((i + 1) * B /
// width) - floor(i * B / width) bytes, each cell drawn in the state that covers most
// of its bytes (ties: the earlier state in MAP_STATES), adjacent cells of one state
// merged. Bytes in no block (headers, padding, a chunk's unused tail) are `overhead`.
import { invalidArgType } from './errors.js';
import { validateInteger, validateObject } from './validate.js';

/** What a byte of a pool can be in the picture, in legend order. */
export const MAP_STATES = ['used', 'free', 'lent', 'parked', 'wasted', 'overhead'] as const;
export type MapState = (typeof MAP_STATES)[number];

/** Fill colour of each state (the PNG test reads them back). */
export const MAP_COLORS: Readonly<Record<MapState, string>> = {
  used: '#2f6fdb',
  free: '#dfe8d0',
  lent: '#e8952f',
  parked: '#9b4fc0',
  wasted: '#d94a4a',
  overhead: '#7f7f7f',
};

/** One block of a row: [start, end) in bytes from the row's start. */
export interface MapExtent {
  start: number;
  end: number;
  state: MapState;
}

/** One chunk (or region, or segment area) of the picture. */
export interface MapRow {
  label: string;
  bytes: number;
  /** In address order, not overlapping, inside [0, bytes). */
  extents: MapExtent[];
}

/** Options of heapMap() (every pool) and `mempools map`. */
export interface HeapMapOptions {
  /** Pixels of a row's bar: 64 .. 16384, default 1024. More runs than this are aggregated into pixels. */
  width?: number;
  /** A heading of your own (default: the pool kind). */
  title?: string;
}

/** The figures the picture's title states. */
export interface MapSummary {
  kind: string;
  used: number;
  allocations: number;
  free: number;
  largestFree: number;
  reserved: number;
  /** Extra facts for the subtitle (e.g. "4 processes attached"). */
  notes?: string[];
}

const LABEL_WIDTH = 170;
const MARGIN = 12;

/** Validated options. */
export function mapOptions(options: unknown): { width: number; title: string | undefined } {
  if (options === undefined) return { width: 1024, title: undefined };
  validateObject(options, 'options');
  const { width = 1024, title } = options as HeapMapOptions;
  validateInteger(width, 'options.width', 64, 16384);
  if (title !== undefined && typeof title !== 'string') throw invalidArgType('options.title', 'of type string', title);
  return { width, title };
}

/** 1234567 -> "1.2 MiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v >= 100 ? v.toFixed(0) : v.toFixed(1)} ${units[i]}`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The row's runs: every byte of [0, bytes) in exactly one run, adjacent runs in different states. */
export function rowRuns(row: MapRow): MapExtent[] {
  const runs: MapExtent[] = [];
  const push = (start: number, end: number, state: MapState): void => {
    if (end <= start) return;
    const last = runs[runs.length - 1];
    if (last !== undefined && last.state === state && last.end === start) last.end = end;
    else runs.push({ start, end, state });
  };
  let at = 0;
  for (const e of row.extents) {
    const start = Math.max(e.start, at);
    const end = Math.min(e.end, row.bytes);
    if (end <= start) continue;
    push(at, start, 'overhead');
    push(start, end, e.state);
    at = end;
  }
  push(at, row.bytes, 'overhead');
  return runs;
}

/** The rectangles of one row: its runs, or `width` majority cells when there are more runs than pixels. */
export function rowRects(row: MapRow, width: number): MapExtent[] {
  const runs = rowRuns(row);
  if (runs.length <= width) return runs;
  const rects: MapExtent[] = [];
  const counts = new Float64Array(MAP_STATES.length);
  const index = new Map<MapState, number>(MAP_STATES.map((s, i) => [s, i]));
  let r = 0;
  for (let cell = 0; cell < width; cell++) {
    const start = Math.floor((cell * row.bytes) / width);
    const end = Math.floor(((cell + 1) * row.bytes) / width);
    if (end <= start) continue;
    counts.fill(0);
    while (r < runs.length && runs[r]!.end <= start) r++;
    for (let k = r; k < runs.length && runs[k]!.start < end; k++) {
      const run = runs[k]!;
      counts[index.get(run.state)!]! += Math.min(run.end, end) - Math.max(run.start, start);
    }
    let best = 0;
    for (let s = 1; s < counts.length; s++) if (counts[s]! > counts[best]!) best = s;
    const state = MAP_STATES[best]!;
    const last = rects[rects.length - 1];
    if (last !== undefined && last.state === state && last.end === start) last.end = end;
    else rects.push({ start, end, state });
  }
  return rects;
}

/** The SVG document. */
export function renderHeapMap(rows: MapRow[], summary: MapSummary, options: unknown): string {
  const { width, title } = mapOptions(options);
  const rowHeight = rows.length <= 64 ? 16 : Math.max(2, Math.floor(1024 / rows.length));
  const gap = rowHeight >= 8 ? 4 : 1;
  const labels = rowHeight >= 10;
  const x0 = labels ? MARGIN + LABEL_WIDTH : MARGIN;
  const heading = title ?? summary.kind;
  const ratio = summary.free > 0 ? summary.largestFree / summary.free : 1;
  const line1 =
    `${heading}: used ${formatBytes(summary.used)} in ${summary.allocations.toLocaleString('en-US')} ` +
    `allocations of ${formatBytes(summary.reserved)}`;
  const line2 =
    `free ${formatBytes(summary.free)}, largest free ${formatBytes(summary.largestFree)}, ` +
    `largest free / free = ${ratio.toFixed(2)}` +
    (summary.notes && summary.notes.length > 0 ? ` · ${summary.notes.join(' · ')}` : '');
  const present = new Set<MapState>();
  const body: string[] = [];
  let y = 64;
  let aggregated = false;
  for (const row of rows) {
    const rects = row.bytes > 0 ? rowRects(row, width) : [];
    if (rowRuns(row).length > width) aggregated = true;
    if (labels) {
      body.push(
        `<text x="${MARGIN}" y="${y + rowHeight - 4}" class="label">${escapeXml(row.label)} · ${formatBytes(row.bytes)}</text>`,
      );
    }
    const px = (at: number): number => Math.round((at * width * 1000) / row.bytes) / 1000;
    body.push(
      `<g class="row" data-bytes="${row.bytes}" data-label="${escapeXml(row.label)}" transform="translate(${x0} ${y})">`,
    );
    for (const rect of rects) {
      present.add(rect.state);
      const x = px(rect.start);
      const w = Math.round((px(rect.end) - x) * 1000) / 1000;
      body.push(
        `<rect class="${rect.state}" x="${x}" width="${w}" height="${rowHeight}" fill="${MAP_COLORS[rect.state]}" data-start="${rect.start}" data-bytes="${rect.end - rect.start}"/>`,
      );
    }
    body.push('</g>');
    y += rowHeight + gap;
  }
  const legend: string[] = [];
  let lx = MARGIN;
  for (const state of MAP_STATES) {
    if (!present.has(state)) continue;
    legend.push(`<rect x="${lx}" y="42" width="12" height="12" fill="${MAP_COLORS[state]}"/>`);
    legend.push(`<text x="${lx + 16}" y="52" class="legend">${state}</text>`);
    lx += 24 + state.length * 7;
  }
  const note = aggregated
    ? `rows with more runs than ${width} px: 1 px = 1/${width} of the row, coloured by the state holding most of its bytes`
    : 'one rectangle per run of blocks in one state; each row is scaled to its own size';
  const height = y + 24;
  const total = x0 + width + MARGIN;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="${height}" viewBox="0 0 ${total} ${height}" data-width="${width}">`,
    `<title>${escapeXml(`${line1}; ${line2}`)}</title>`,
    '<style>text{font-family:DejaVu Sans,Arial,sans-serif;fill:#222}.t{font-size:14px;font-weight:bold}.s,.legend,.label,.note{font-size:11px}</style>',
    `<rect width="${total}" height="${height}" fill="#ffffff"/>`,
    `<text x="${MARGIN}" y="18" class="t">${escapeXml(line1)}</text>`,
    `<text x="${MARGIN}" y="34" class="s">${escapeXml(line2)}</text>`,
    ...legend,
    ...body,
    `<text x="${MARGIN}" y="${height - 8}" class="note">${escapeXml(note)}</text>`,
    '</svg>',
    '',
  ].join('\n');
}

/** A walked block of a pool made of chunks (HeapPool, RegionPool). */
export interface ChunkBlock {
  chunk: number;
  offset: number;
  size: number;
}

/**
 * The SVG of a pool made of chunks whose stats do not give the free figures: each block
 * placed in its chunk's row (`rows` by chunk id) in the state `stateOf` says, the free
 * figures taken from the walk.
 */
export function chunkHeapMap<B extends ChunkBlock>(
  kind: string,
  rows: Map<number, MapRow>,
  blocks: readonly B[],
  stateOf: (block: B) => MapState,
  stats: { used: number; allocations: number; reserved: number },
  options: unknown,
): string {
  for (const b of blocks)
    rows.get(b.chunk)?.extents.push({ start: b.offset, end: b.offset + b.size, state: stateOf(b) });
  const list = [...rows.values()];
  const { used, allocations, reserved } = stats;
  return renderHeapMap(list, { kind, used, allocations, reserved, ...freeFigures(list) }, options);
}

/** Free bytes and the largest free block of a walk's extents (for pools whose stats do not say). */
export function freeFigures(rows: MapRow[]): { free: number; largestFree: number } {
  let free = 0;
  let largestFree = 0;
  for (const row of rows) {
    for (const e of row.extents) {
      if (e.state !== 'free') continue;
      free += e.end - e.start;
      if (e.end - e.start > largestFree) largestFree = e.end - e.start;
    }
  }
  return { free, largestFree };
}
