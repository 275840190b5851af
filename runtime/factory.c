/* The factory registry: the one piece of process-wide mutable state.  The
 * built-in drivers are entered once; sd_register adds more at run time. */
#include "storagedriver.h"
#include "util.h"
#include "../drivers/drivers.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    char *name;
    sd_factory_fn factory;
} entry;

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t builtins_once = PTHREAD_ONCE_INIT;
static entry *registry;
static size_t registry_len, registry_cap;

/* Caller holds registry_mu. */
static entry *lookup(const char *name)
{
    for (size_t i = 0; i < registry_len; i++)
        if (strcmp(registry[i].name, name) == 0)
            return &registry[i];
    return NULL;
}

/* Caller holds registry_mu (or runs inside the once-initialiser). */
static int add(const char *name, sd_factory_fn factory)
{
    if (registry_len == registry_cap) {
        size_t cap = registry_cap ? registry_cap * 2 : 16;
        entry *r = realloc(registry, cap * sizeof *r);
        if (!r)
            return -1;
        registry = r;
        registry_cap = cap;
    }
    char *n = sd_strdup(name);
    if (!n)
        return -1;
    registry[registry_len].name = n;
    registry[registry_len].factory = factory;
    registry_len++;
    return 0;
}

static void add_builtins(void)
{
    pthread_mutex_lock(&registry_mu);
    for (const sd_builtin_driver *b = sd_builtin_drivers; b->name; b++)
        if (!lookup(b->name))
            add(b->name, b->factory);
    pthread_mutex_unlock(&registry_mu);
}

sd_error *sd_register(const char *name, sd_factory_fn factory)
{
    if (!name || !*name)
        return sd_err_driver("a driver needs a name");
    if (!factory)
        return sd_err_driver("Must not provide nil StorageDriverFactory");
    pthread_once(&builtins_once, add_builtins);
    sd_error *e = NULL;
    pthread_mutex_lock(&registry_mu);
    if (lookup(name))
        e = sd_err_driver("StorageDriverFactory named %s already registered", name);
    else if (add(name, factory) != 0)
        e = sd_err_driver("out of memory");
    pthread_mutex_unlock(&registry_mu);
    return e;
}

static sd_factory_fn factory_of(const char *name)
{
    pthread_once(&builtins_once, add_builtins);
    pthread_mutex_lock(&registry_mu);
    entry *en = name ? lookup(name) : NULL;
    sd_factory_fn f = en ? en->factory : NULL;
    pthread_mutex_unlock(&registry_mu);
    return f;
}

bool sd_driver_registered(const char *name)
{
    return factory_of(name) != NULL;
}

sd_error *sd_create(const char *name, sd_params *params, sd_driver **out)
{
    sd_factory_fn f = factory_of(name);
    if (!f)
        return sd_err_invalid_driver(name ? name : "");
    sd_driver *d = NULL;
    sd_error *e = f(params, &d);
    if (!e && !d)
        e = sd_err_driver("factory returned no driver");
    if (!e)
        e = sd_params_finish(params, d->name); /* in case a factory forgot */
    if (e) {
        if (d)
            sd_driver_free(d);
        if (!e->driver)
            sd_error_set_driver(e, name);
        return e;
    }
    *out = d;
    return NULL;
}

sd_error *sd_drivers(sd_strlist *out)
{
    pthread_once(&builtins_once, add_builtins);
    sd_strlist l = {0};
    pthread_mutex_lock(&registry_mu);
    int rc = 0;
    for (size_t i = 0; i < registry_len && rc == 0; i++)
        rc = sd_strlist_push(&l, registry[i].name);
    pthread_mutex_unlock(&registry_mu);
    if (rc != 0) {
        sd_strlist_free(&l);
        return sd_err_driver("out of memory");
    }
    sd_strlist_sort(&l);
    *out = l;
    return NULL;
}
