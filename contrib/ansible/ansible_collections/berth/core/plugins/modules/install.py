#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# MIT OR Apache-2.0

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: install
short_description: Install packages into the berth store, side by side
version_added: "0.1.0"
description:
  - Runs C(berth install NAME[@VERSION]... --json). A NAME or NAME@VERSION that is not a file
    is looked up in the configured repositories' last good indexes (see M(berth.core.repo));
    a path installs a local C(.berth), C(.deb), C(.rpm) or tarball.
  - C(changed) is true when berth installed something new (an entry's C(status) is
    C(installed)); installing the same content again changes nothing.
  - In check mode nothing is installed; C(berth list --json) tells which named packages are
    missing (NAME@VERSION needs that version, NAME any version), and those are reported.
options:
  name:
    description: Packages, each NAME, NAME@VERSION or a package file's path.
    type: list
    elements: str
    required: true
  from_repo:
    description:
      - Install the named packages from this configured repository (C(--from)) and bind the
        names to it; later installs of those names use it whatever other repositories offer.
    type: str
extends_documentation_fragment:
  - berth.core.berth
notes:
  - Supports C(check_mode). In check mode a package file counts as installed when an installed
    entry's NAME-VERSION is the file's name without its extension (as C(berth pack) names it).
author:
  - berth contributors
'''

EXAMPLES = r'''
- name: Install two versions side by side from the repositories
  berth.core.install:
    name:
      - myapp@1.4.2
      - myapp@1.5.0
    root: /var/lib/berth
'''

RETURN = r'''
installed:
  description: berth's report per package (name, version, id, status C(installed) or C(unchanged)).
  returned: success and not check mode
  type: list
  elements: dict
  sample: [{"name": "myapp", "version": "1.5.0", "status": "installed"}]
missing:
  description: In check mode, the names that are not installed (would be installed).
  returned: check mode
  type: list
  elements: str
  sample: ["myapp@1.5.0"]
rc:
  description: berth's exit code.
  returned: always
  type: int
  sample: 0
hint:
  description: berth's hint line when it failed.
  returned: failure
  type: str
'''

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.core.plugins.module_utils.berth import (
    common_argument_spec,
    run_berth,
)


PACKAGE_SUFFIXES = ('.berth', '.deb', '.rpm', '.tar.gz', '.tgz', '.tar.xz', '.tar.zst',
                    '.tar.bz2', '.tar')


def file_stem(spec):
    base = os.path.basename(spec)
    for suffix in PACKAGE_SUFFIXES:
        if base.endswith(suffix):
            return base[:-len(suffix)]
    return base


def is_installed(spec, entries):
    """Whether berth list's ENTRIES hold SPEC: NAME@VERSION that version, NAME any version,
    a package file an entry whose NAME-VERSION is the file's name without its extension."""
    if os.path.sep in spec or os.path.exists(spec):
        stem = file_stem(spec)
        return any('%s-%s' % (e.get('name'), e.get('version')) == stem for e in entries)
    if '@' in spec:
        name, version = spec.split('@', 1)
        return any(e.get('name') == name and e.get('version') == version for e in entries)
    return any(e.get('name') == spec for e in entries)


def main():
    argument_spec = common_argument_spec()
    argument_spec.update(
        name=dict(type='list', elements='str', required=True),
        from_repo=dict(type='str'),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    names = module.params['name']

    if module.check_mode:
        rc, entries, out, err = run_berth(module, ['list'])
        missing = [n for n in names if not is_installed(n, entries or [])]
        module.exit_json(changed=bool(missing), missing=missing, rc=rc)

    args = ['install']
    if module.params['from_repo']:
        args += ['--from', module.params['from_repo']]
    rc, report, out, err = run_berth(module, args + names)
    installed = report if isinstance(report, list) else []
    changed = any(e.get('status') != 'unchanged' for e in installed)
    module.exit_json(changed=changed, installed=installed, rc=rc)


if __name__ == '__main__':
    main()
