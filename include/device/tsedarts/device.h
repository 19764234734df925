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

/* Whether two device names name the same device ("cuda" is "cuda:0"). */
int device_same(const char *a, const char *b);

#endif
