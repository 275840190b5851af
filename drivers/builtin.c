#include "drivers.h"

const sd_builtin_driver sd_builtin_drivers[] = {
    {"filesystem", sd_filesystem_factory},
    {"inmemory", sd_inmemory_factory},
    {NULL, NULL},
};
