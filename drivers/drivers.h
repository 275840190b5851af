/* The drivers built into the library; drivers/builtin.c lists them for the factory. */
#ifndef SD_DRIVERS_H
#define SD_DRIVERS_H

#include "../runtime/storagedriver.h"

sd_error *sd_inmemory_factory(sd_params *params, sd_driver **out);
sd_error *sd_filesystem_factory(sd_params *params, sd_driver **out);
sd_error *sd_s3_factory(sd_params *params, sd_driver **out);
sd_error *sd_s3aws_factory(sd_params *params, sd_driver **out);
sd_error *sd_swift_factory(sd_params *params, sd_driver **out);
sd_error *sd_azure_factory(sd_params *params, sd_driver **out);

typedef struct sd_builtin_driver {
    const char *name;
    sd_factory_fn factory;
} sd_builtin_driver;

/* Terminated by an entry whose name is NULL. */
extern const sd_builtin_driver sd_builtin_drivers[];

#endif
