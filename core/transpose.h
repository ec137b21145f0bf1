/* transpose.h - the transpose of a CSR matrix (users x items into items x
 * users), weights carried along, for models that solve or count per item. */
#ifndef RS_TRANSPOSE_H
#define RS_TRANSPOSE_H

#include "common.h"
#include "dataset.h"

/* out = mᵀ, columns of every row sorted ascending, values (when m has
 * them) moved with their entries. O(nnz + rows + cols).
 * On failure out is zeroed. Free with rs_csr_free. */
int rs_csr_transpose(const rs_csr *m, rs_csr *out, rs_error *err);

#endif
