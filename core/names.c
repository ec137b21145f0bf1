/* names.c - the name rule of names.h. */
#include "names.h"

#include <string.h>

static int name_char_ok(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '.' || ch == '-';
}

size_t rs_name_length_ok(const char *p, size_t n)
{
    if (n == 0 || n > RS_NAME_MAX) return 0;
    for (size_t i = 0; i < n; i++)
        if (!name_char_ok((unsigned char)p[i])) return 0;
    return n;
}

int rs_store_check_name(const char *what, const char *name, rs_error *err)
{
    if (!name) return rs_fail(err, "%s name is missing", what);
    size_t n = strnlen(name, RS_NAME_MAX + 1);
    if (n == 0) return rs_fail(err, "%s name is empty", what);
    if (n > RS_NAME_MAX)
        return rs_fail(err, "%s name '%.20s...' is longer than %d bytes", what, name, RS_NAME_MAX);
    for (size_t i = 0; i < n; i++)
        if (!name_char_ok((unsigned char)name[i]))
            return rs_fail(err,
                           "%s name '%s' has character 0x%02x at %zu; allowed: A-Z a-z 0-9 _ . -",
                           what, name, (unsigned char)name[i], i);
    return 0;
}
