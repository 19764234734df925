/* The CUDA backend, loaded on first use from its module
 * (libtsedarts_cuda.so, gpu/CMakeLists.txt). A run on the CPU never loads
 * it, and so never maps the CUDA runtime, cuBLAS or cuDNN. */
#include "tsedarts/backend_cuda.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MODULE_NAME "libtsedarts_cuda.so"

typedef const backend *(*open_fn)(int, const char **);
typedef int (*count_fn)(const char **);

static struct {
    pthread_once_t once;
    open_fn open;
    count_fn count;
    char why[1024]; /* why the module could not be loaded */
} module = {.once = PTHREAD_ONCE_INIT};

/* path/MODULE_NAME loaded, or a reason appended to module.why. */
static void *try_load(const char *dir)
{
    char path[PATH_MAX + sizeof MODULE_NAME + 1];
    snprintf(path, sizeof path, "%s/%s", dir, MODULE_NAME);
    if (access(path, F_OK) != 0) return NULL;
    /* RTLD_NOW: a symbol the program does not export fails here, with
     * its name, rather than at the first call into the backend */
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        size_t used = strlen(module.why);
        snprintf(module.why + used, sizeof module.why - used, "%s%.900s", used ? "; " : "", e ? e : path);
    }
    return h;
}

/* The module: $TSEDARTS_CUDA_MODULE when set (a file), else beside the
 * program, else in the build tree that made the program. */
static void load_module(void)
{
    void *h = NULL;
    const char *env = getenv("TSEDARTS_CUDA_MODULE");
    if (env && *env) {
        h = dlopen(env, RTLD_NOW | RTLD_LOCAL);
        if (!h) {
            const char *e = dlerror();
            snprintf(module.why, sizeof module.why, "TSEDARTS_CUDA_MODULE=%s: %s", env, e ? e : "cannot be loaded");
            return;
        }
    }
    if (!h) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            char *slash = strrchr(exe, '/');
            if (slash) {
                *slash = '\0';
                h = try_load(exe);
            }
        }
    }
#ifdef TSEDARTS_CUDA_MODULE_DIR
    if (!h) h = try_load(TSEDARTS_CUDA_MODULE_DIR);
#endif
    if (!h) {
        if (!module.why[0])
            snprintf(module.why, sizeof module.why,
                     "the CUDA backend's module %s is neither beside this program nor in the build tree "
                     "(set TSEDARTS_CUDA_MODULE to its path)",
                     MODULE_NAME);
        return;
    }
    /* from the module's own scope: the program's backend_cuda is this
     * file's */
    module.open = (open_fn)(uintptr_t)dlsym(h, "backend_cuda");
    module.count = (count_fn)(uintptr_t)dlsym(h, "backend_cuda_count");
    if (!module.open || !module.count) {
        module.open = NULL;
        module.count = NULL;
        snprintf(module.why, sizeof module.why, "%s lacks backend_cuda or backend_cuda_count", MODULE_NAME);
    }
}

const backend *backend_cuda(int device, const char **why)
{
    pthread_once(&module.once, load_module);
    if (!module.open) {
        if (why) *why = module.why;
        return NULL;
    }
    return module.open(device, why);
}

int backend_cuda_count(const char **why)
{
    pthread_once(&module.once, load_module);
    if (!module.count) {
        if (why) *why = module.why;
        return 0;
    }
    return module.count(why);
}

int backend_cuda_built(void) { return 1; }

int backend_cuda_load(const char **why)
{
    pthread_once(&module.once, load_module);
    if (!module.open && why) *why = module.why;
    return module.open != NULL;
}
