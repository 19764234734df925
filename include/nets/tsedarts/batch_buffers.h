/* Two host buffers for a batch (images, labels, masks), filled in turn, so
 * that the host makes the next batch while a device still copies the last
 * one. Where a search or training step keeps its scalars on the device
 * (device_step.h) and the backend offers pinned memory and fences, the
 * buffers are pinned (host_alloc), uploaded without waiting
 * (upload_async), and each guarded by a fence: the host refills a buffer
 * only once the copies made from it have run. Elsewhere they are plain
 * host memory and the uploads are those of net_exec_run. */
#ifndef TSEDARTS_BATCH_BUFFERS_H
#define TSEDARTS_BATCH_BUFFERS_H

#include "tsedarts/model.h"

typedef struct batch_buffers {
    const backend *be;
    void *images[2];
    int32_t *labels[2];
    void *masks[2]; /* NULL where mask_bytes was 0 */
    int cur;        /* the pair being filled and launched from */
    int pinned;     /* host_alloc memory */
    int async;      /* pinned, uploaded by upload_async, fenced */
} batch_buffers;

td_status batch_buffers_create(batch_buffers *bb, const backend *be, size_t image_bytes, int batch, size_t mask_bytes);
void batch_buffers_free(batch_buffers *bb);
/* Turns to the other pair, once every copy launched from it has run. */
td_status batch_buffers_next(batch_buffers *bb);
/* net_exec_launch of the current pair's images and labels, with mask (the
 * pair's own masks, or other memory, uploaded as net_exec_run does), then
 * the pair's fence. */
td_status batch_buffers_launch(batch_buffers *bb, model *m, net_exec *ne, const void *mask);

#endif
