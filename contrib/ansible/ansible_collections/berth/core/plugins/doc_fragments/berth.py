# -*- coding: utf-8 -*-
# Copyright: berth contributors
# MIT OR Apache-2.0

# The options every berth.core module takes (how to reach berth on the host), written once.

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r'''
options:
  berth:
    description: The berth binary.
    type: str
    default: berth
  root:
    description: The berth root (C(--root)); berth's default when not given.
    type: path
  command_prefix:
    description:
      - Words put before the berth command, e.g. C([ip, netns, exec, h1]) to run berth in a
        network namespace.
    type: list
    elements: str
'''
