#!/usr/bin/env python3
"""warm_request.py KEY... - write a request for the guest-stub's `warm`
workload (struct cowvm_request in abi/cowvm_abi.h) to stdout, for
`cowvm clone --input FILE`."""
import struct
import sys

REQ_MAGIC = 0x5145526D766F63
MAX_KEYS = 1024

keys = [int(k, 0) for k in sys.argv[1:]]
if not keys or len(keys) > MAX_KEYS or any(k < 0 or k >= 1 << 64 for k in keys):
    sys.exit("usage: warm_request.py KEY... (1..%d keys, each 0..2^64-1)" % MAX_KEYS)
sys.stdout.buffer.write(struct.pack("<QQ%dQ" % len(keys), REQ_MAGIC, len(keys), *keys))
