// The one status vocabulary of the four allocators (native/alloc/pool_status.h),
// as the binding exports it: every native call's negative result is one of
// these; errors.fromStatus maps them to errors.
import { binding } from './native.js';

export const Status = binding.status;
export type StatusCode = (typeof Status)[keyof typeof Status];
