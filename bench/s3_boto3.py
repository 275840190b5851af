#!/usr/bin/python3
# The floor of bench/s3.lua: Debian's boto3 (python3-boto3) in one process,
# sequential, one request per call, against the same S3 server.
#
#   s3_boto3.py ENDPOINT BUCKET PREFIX N [D]       prints, one a line,
#       putget1k MS   median of N × (put_object + get_object of 1 KiB)
#       put4k MS      median of N × put_object of 4 KiB
#       get4k MS      median of N × get_object (read whole) of those objects
#       delete50 MS   median of D × (list_objects_v2 + one delete_objects) of
#                     50 empty objects put beforehand (untimed); when D > 0
#   s3_boto3.py ENDPOINT BUCKET KEY presign-put    prints a presigned PUT URL
#
# Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY
# and AWS_DEFAULT_REGION (bench/s3.lua sets them and unsets AWS_CA_BUNDLE and
# AWS_PROFILE).  The objects are left under PREFIX for the caller to delete.
# Runs under /usr/bin/python3 on purpose: that is where Debian's boto3 is.

import os
import statistics
import sys
import time

import boto3
from botocore.config import Config


def client(endpoint):
    return boto3.client(
        "s3", endpoint_url=endpoint,
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                      retries={"max_attempts": 1}))


def timed(n, op, setup=None):
    """Median milliseconds of op(i) for i in 0..n-1, after two untimed calls
    (op(-1), op(-2)); setup(i), untimed, before each call."""
    ms = []
    for i in [-1, -2] + list(range(n)):
        if setup:
            setup(i)
        t0 = time.perf_counter()
        op(i)
        if i >= 0:
            ms.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ms)


def main(argv):
    endpoint, bucket = argv[1], argv[2]
    c = client(endpoint)
    if argv[4] == "presign-put":
        print(c.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": argv[3]},
                                       ExpiresIn=3600))
        return
    prefix, n = argv[3].rstrip("/"), int(argv[4])
    dels = int(argv[5]) if len(argv) > 5 else 0
    kib, kib4 = b"k" * 1024, b"f" * 4096

    def putget(i):
        key = "%s/putget/%d" % (prefix, i)
        c.put_object(Bucket=bucket, Key=key, Body=kib)
        assert len(c.get_object(Bucket=bucket, Key=key)["Body"].read()) == 1024

    def put(i):
        c.put_object(Bucket=bucket, Key="%s/small/%d" % (prefix, i), Body=kib4)

    def get(i):
        body = c.get_object(Bucket=bucket, Key="%s/small/%d" % (prefix, i))["Body"].read()
        assert len(body) == 4096

    def delete50(i):
        # what a driver's delete of a directory of 50 files must do at least
        pre = "%s/del%d/" % (prefix, i)
        listed = c.list_objects_v2(Bucket=bucket, Prefix=pre)["Contents"]
        assert len(listed) == 50
        out = c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": o["Key"]} for o in listed],
                                                      "Quiet": True})
        assert not out.get("Errors"), out["Errors"]

    def fill50(i):
        for j in range(50):
            c.put_object(Bucket=bucket, Key="%s/del%d/%d" % (prefix, i, j), Body=b"")

    print("putget1k %.3f" % timed(n, putget))
    print("put4k %.3f" % timed(n, put))
    print("get4k %.3f" % timed(n, get))
    if dels > 0:
        print("delete50 %.3f" % timed(dels, delete50, fill50))


if __name__ == "__main__":
    main(sys.argv)
