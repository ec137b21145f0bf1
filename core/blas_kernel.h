/* blas_kernel.h - making OpenBLAS use the kernels the CPU can run.
 *
 * OpenBLAS built with DYNAMIC_ARCH (Debian's) picks its compute kernels when
 * the library loads, from a table of CPU model numbers. A CPU newer than the
 * build's table gets a generic fallback: Debian 12's OpenBLAS 0.3.21 runs
 * SSE3 "Prescott" kernels on an AVX-512 Xeon of family 6 model 207, and
 * sgemm is then 8x slower (8 against 68 GFLOPS on two cores, 500 x 600 x
 * 8530). OpenBLAS reads OPENBLAS_CORETYPE only at load time, before main(),
 * so the one remedy from inside a program is to set it and exec the program
 * again. rs_blas_kernel_ensure() does that once, at the top of main():
 *
 *   - nothing happens when OPENBLAS_CORETYPE is already set (an operator's
 *     choice, and the guard that stops a second exec) or when the kernel
 *     OpenBLAS chose is not a generic fallback;
 *   - otherwise the kernel the CPU's features allow (SkylakeX for AVX-512
 *     F/VL/BW/DQ, Haswell for AVX2 + FMA) is set and /proc/self/exe is
 *     exec'd with the same arguments. When the exec fails the program goes
 *     on with the slow kernel and says so on stderr.
 *
 * Tools that run the program under an emulator (valgrind does not run
 * AVX-512, and does not follow the exec by default) set OPENBLAS_CORETYPE
 * themselves.
 */
#ifndef RS_BLAS_KERNEL_H
#define RS_BLAS_KERNEL_H

/* The kernel OpenBLAS runs ("SkylakeX", "Haswell", "Prescott", ...). */
const char *rs_blas_kernel_name(void);

/* The OPENBLAS_CORETYPE to ask for, or NULL to keep the current kernel:
 * the decision of rs_blas_kernel_ensure, as a pure function of the current
 * kernel's name and the CPU's features (for tests). */
const char *rs_blas_kernel_choose(const char *current, int has_avx512, int has_avx2_fma);

/* Re-execs the program with a better kernel when rs_blas_kernel_choose
 * says so (returns only when it does not, or when the exec failed). argv is
 * main()'s, NULL-terminated. */
void rs_blas_kernel_ensure(char **argv);

#endif
