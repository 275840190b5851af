#include "drivers.h"

const sd_builtin_driver sd_builtin_drivers[] = {
    {"azure", sd_azure_factory},
    {"filesystem", sd_filesystem_factory},
    {"inmemory", sd_inmemory_factory},
    {"s3", sd_s3_factory},
    {"s3aws", sd_s3aws_factory},
    {"swift", sd_swift_factory},
    {NULL, NULL},
};
