#include "tsedarts/batch_buffers.h"

#include <stdlib.h>
#include <string.h>

#include "tsedarts/device_step.h"

static void *host_alloc(const batch_buffers *bb, size_t bytes)
{
    return bb->pinned ? bb->be->host_alloc(bytes ? bytes : 1) : malloc(bytes ? bytes : 1);
}

static void host_release(const batch_buffers *bb, void *p)
{
    if (!p) return;
    if (bb->pinned)
        bb->be->host_release(p);
    else
        free(p);
}

static int allocate(batch_buffers *bb, size_t image_bytes, int batch, size_t mask_bytes)
{
    for (int k = 0; k < 2; k++) {
        bb->images[k] = host_alloc(bb, image_bytes);
        bb->labels[k] = host_alloc(bb, (size_t)batch * sizeof(int32_t));
        bb->masks[k] = mask_bytes ? host_alloc(bb, mask_bytes) : NULL;
        if (!bb->images[k] || !bb->labels[k] || (mask_bytes && !bb->masks[k])) return 0;
    }
    return 1;
}

static void release_all(batch_buffers *bb)
{
    for (int k = 0; k < 2; k++) {
        host_release(bb, bb->images[k]);
        host_release(bb, bb->labels[k]);
        host_release(bb, bb->masks[k]);
        bb->images[k] = bb->masks[k] = NULL;
        bb->labels[k] = NULL;
    }
}

td_status batch_buffers_create(batch_buffers *bb, const backend *be, size_t image_bytes, int batch, size_t mask_bytes)
{
    memset(bb, 0, sizeof *bb);
    bb->be = be;
    /* pinned only where the step itself does not wait: a step that reads
     * its scalars back waits for the copies anyway */
    bb->pinned = be->host_alloc && be->host_release && device_step_wanted(be);
    bb->async = bb->pinned && be->upload_async && be->fence_record && be->fence_wait;
    if (allocate(bb, image_bytes, batch, mask_bytes)) return TD_OK;
    /* where pinned memory is refused (a locked-memory limit), plain memory
     * serves: the uploads then wait as net_exec_run's do, the bits the same */
    release_all(bb);
    if (bb->pinned) {
        bb->pinned = bb->async = 0;
        if (allocate(bb, image_bytes, batch, mask_bytes)) return TD_OK;
        release_all(bb);
    }
    memset(bb, 0, sizeof *bb);
    return TD_FAIL(TD_ERR_MEMORY, "out of memory for the batch buffers");
}

void batch_buffers_free(batch_buffers *bb)
{
    if (!bb->be) return;
    /* nothing may still be copying from them */
    if (bb->async)
        for (int k = 0; k < 2; k++) bb->be->fence_wait(k);
    release_all(bb);
    memset(bb, 0, sizeof *bb);
}

td_status batch_buffers_next(batch_buffers *bb)
{
    bb->cur ^= 1;
    return bb->async ? bb->be->fence_wait(bb->cur) : TD_OK;
}

td_status batch_buffers_launch(batch_buffers *bb, model *m, net_exec *ne, const void *mask)
{
    int own_mask = mask && mask == bb->masks[bb->cur];
    net_batch b = {bb->images[bb->cur], bb->labels[bb->cur], mask, bb->async, bb->async && own_mask};
    td_status s = net_exec_launch(m, ne, &b);
    /* the fence follows whatever was queued, a failed launch's uploads
     * too: the buffer is not refilled or freed while they still read it */
    td_status f = bb->async ? bb->be->fence_record(bb->cur) : TD_OK;
    return s != TD_OK ? s : f;
}
