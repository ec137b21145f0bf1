/* test_support.h - helpers shared by the unit tests (header only: each
 * test_*.c is its own program). */
#ifndef RS_TEST_SUPPORT_H
#define RS_TEST_SUPPORT_H

#include <stdio.h>
#include <unistd.h>

/* Removes a test store: the LMDB files in dir, then dir. */
static inline void test_remove_store(const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char path[1024];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

#endif
