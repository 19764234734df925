/* The backends this build has, by the name a user gives with --device:
 * "cpu", and "cuda" or "cuda:N" when the CUDA backend is built. Only the
 * programs (cli/, protocol/, verify/) choose a device: the layers below
 * take the backend they are given, and cannot reach this one. */
#ifndef TSEDARTS_DEVICE_H
#define TSEDARTS_DEVICE_H

#include "tsedarts/backend.h"

/* The backend of a device name, or an error naming the name and why it
 * cannot be used here. */
td_status device_open(const char *name, const backend **out);

/* Whether name is a device name this build could open, without opening it
 * (a process that forks workers must not initialise CUDA first); returns
 * an error naming it otherwise. */
td_status device_check_name(const char *name);

/* "cpu | cuda[:N]" for option help. */
#define DEVICE_HELP "cpu (default) | cuda[:N] (the GPU backend; N counts from 0)"
/* The same for commands that spread runs over several devices. */
#define DEVICE_LIST_HELP                                                                                             \
    "cpu (default) | cuda[:N] | cuda:N,M,... (those GPUs) | cuda:all (every GPU of this machine); runs are spread " \
    "over the devices, one at a time on each unless --jobs asks for more"

/* Several devices of one kind, as the protocol spreads runs over them. */
#define DEVICE_LIST_MAX 64
typedef struct device_list {
    int n;
    char names[DEVICE_LIST_MAX][16]; /* each a name device_open takes: "cpu", "cuda:3" */
} device_list;

/* Parses "cpu", "cuda", "cuda:N", "cuda:N,M,..." or "cuda:all" (every
 * GPU this process sees, counted in a child process so that this one does
 * not initialise CUDA before it forks workers). A list names each device
 * once. */
td_status device_list_parse(const char *spec, device_list *out);

/* Whether two device names name the same device ("cuda" is "cuda:0"). */
int device_same(const char *a, const char *b);

#endif
