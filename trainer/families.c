/* families.c - the registry of model families: one line per family. */
#include "family.h"

#include <string.h>

#define RS_FAMILY_LIST(X)                                                                          \
    X(vae)                                                                                         \
    X(fastvae)                                                                                     \
    X(popularity)                                                                                  \
    X(linear)                                                                                      \
    X(ials)                                                                                        \
    X(ease)                                                                                        \
    X(ganmf)                                                                                       \
    X(sinkhorn)

#define DECLARE(name) extern const rs_family rs_family_##name;
#define ENTRY(name)   &rs_family_##name,
RS_FAMILY_LIST(DECLARE)
static const rs_family *const families[] = {RS_FAMILY_LIST(ENTRY)};

const rs_family *const *rs_families(int *n)
{
    *n = (int)(sizeof(families) / sizeof(families[0]));
    return families;
}

const rs_family *rs_family_find(const char *name)
{
    for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++)
        if (!strcmp(families[i]->name, name)) return families[i];
    return NULL;
}

const rs_option *rs_family_option(const rs_family *family, const char *name)
{
    for (int i = 0; i < family->n_options; i++)
        if (!strcmp(family->options[i].name, name)) return &family->options[i];
    return NULL;
}
