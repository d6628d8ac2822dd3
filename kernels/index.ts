/**
 * Every kernel in kernels/, in one list: what a lane that runs "all the kernels" (the compute
 * backends, the software-GPU browser lane, scripts/gpu-check) iterates over. A kernel's definition
 * (function, arguments, output size) lives beside its siblings in its own file; adding a file of
 * kernels means adding its list here.
 */
import { DENSE_KERNELS, type KernelDef } from './dense.ts';

export type { KernelDef, KernelInput, DenseConstants } from './dense.ts';

export const KERNELS: readonly KernelDef[] = [...DENSE_KERNELS];
