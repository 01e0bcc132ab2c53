#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Run the kernel's tools/net/ynl/ynl-gen-c.py with one local extension.

    scripts/ynl-gen-c.py YNL_TOOLS_DIR [ynl-gen-c.py arguments...]

YNL_TOOLS_DIR is tools/net/ynl of the extracted kernel source
(scripts/ynl.sh path prints its parent). Everything is the kernel's generator
except the kernel policy of a binary attribute whose only check is max-len:
6.12's generator raises "One or more of binary type checks not implemented,
yet", and later ones emit NLA_POLICY_MAX_LEN(), which is missing from 6.1 and
6.12 and stores the limit in the policy's s16 max (NLPUSH_PAYLOAD_MAX, 61440,
does not fit). Here it is rendered as the classic
    { .type = NLA_BINARY, .len = LIMIT, }
(u16 len: at most LIMIT bytes), which every kernel of the matrix validates.
"""
import importlib.util
import os
import sys


def main():
    if len(sys.argv) < 2 or not os.path.isfile(os.path.join(sys.argv[1], 'ynl-gen-c.py')):
        sys.exit('usage: ynl-gen-c.py YNL_TOOLS_DIR [ynl-gen-c.py arguments...]')
    tools = os.path.abspath(sys.argv[1])
    gen_path = os.path.join(tools, 'ynl-gen-c.py')
    sys.path.insert(0, tools)  # ynl-gen-c.py does "from lib import ..."
    spec = importlib.util.spec_from_file_location('ynl_gen_c', gen_path)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)

    kernel_binary_policy = gen.TypeBinary._attr_policy

    def binary_policy(self, policy):
        if set(self.checks) == {'max-len'}:
            return '{ .type = NLA_BINARY, .len = ' + self.get_limit_str('max-len') + ', }'
        return kernel_binary_policy(self, policy)

    gen.TypeBinary._attr_policy = binary_policy
    sys.argv = [gen_path] + sys.argv[2:]
    gen.main()


if __name__ == '__main__':
    main()
