/* blas_kernel.c - re-exec with OPENBLAS_CORETYPE when OpenBLAS fell back to
 * a generic kernel on a CPU it does not know (see blas_kernel.h). */
#include "blas_kernel.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* OpenBLAS's own query; declared here because cblas.h does not in every
 * packaging of it. */
char *openblas_get_corename(void);

const char *rs_blas_kernel_name(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}

/* The x86 kernels OpenBLAS falls back to when it does not recognise the CPU
 * model: none of them uses AVX. */
static int is_generic_kernel(const char *name)
{
    static const char *const generic[] = {"Prescott", "Core2",  "Penryn", "Dunnington",
                                          "Nehalem",  "Katmai", "Atom",   "Unknown"};
    for (size_t i = 0; i < sizeof(generic) / sizeof(generic[0]); i++)
        if (!strcmp(name, generic[i])) return 1;
    return 0;
}

const char *rs_blas_kernel_choose(const char *current, int has_avx512, int has_avx2_fma)
{
    if (!current || !is_generic_kernel(current)) return NULL;
    if (has_avx512) return "SkylakeX";
    if (has_avx2_fma) return "Haswell";
    return NULL;
}

#if defined(__x86_64__) || defined(__i386__)
/* libgcc's checks include the operating system's support (XCR0), so a
 * feature reported here can be used. */
static void cpu_features(int *avx512, int *avx2_fma)
{
    __builtin_cpu_init();
    *avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
              __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    *avx2_fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}
#else
static void cpu_features(int *avx512, int *avx2_fma)
{
    *avx512 = *avx2_fma = 0;
}
#endif

void rs_blas_kernel_ensure(char **argv)
{
    if (getenv("OPENBLAS_CORETYPE")) return;
    int avx512, avx2_fma;
    cpu_features(&avx512, &avx2_fma);
    const char *current = rs_blas_kernel_name();
    const char *want = rs_blas_kernel_choose(current, avx512, avx2_fma);
    if (!want) return;
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (len <= 0) {
        fprintf(stderr,
                "warning: OpenBLAS runs its generic %s kernel; set OPENBLAS_CORETYPE=%s "
                "(cannot re-exec: /proc/self/exe unreadable)\n",
                current, want);
        return;
    }
    self[len] = '\0';
    if (setenv("OPENBLAS_CORETYPE", want, 1) != 0) return;
    execv(self, argv);
    int saved = errno;
    unsetenv("OPENBLAS_CORETYPE");
    fprintf(stderr,
            "warning: OpenBLAS runs its generic %s kernel; set OPENBLAS_CORETYPE=%s "
            "(re-exec failed: %s)\n",
            current, want, strerror(saved));
}
