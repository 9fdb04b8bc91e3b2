#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# MIT OR Apache-2.0

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: repo
short_description: Configure a berth repository with a pinned key
version_added: "0.1.0"
description:
  - Adds (C(berth repo add NAME URL --key KEY)) or removes (C(berth repo remove NAME)) a
    static signed repository. C(berth repo list --json) decides whether anything changes.
  - A configured repository with other URLs or another key is removed and added again.
  - With I(update=true), then fetches and verifies the repository's index
    (C(berth update NAME --json)); a refused index (a bad signature, a replayed older serial,
    an expired index) fails the task with berth's reason, and the previous index stays in
    force.
  - Check mode changes nothing and reports whether it would (it fetches no index).
options:
  name:
    description: The repository's name.
    type: str
    required: true
  url:
    description: The repository's URL(s) (http://, https://, file://), tried in order.
    type: list
    elements: str
  key:
    description:
      - The pinned public key - a minisign C(.pub) file's path on the managed host, its text,
        or the base64 key. Required with I(state=present).
    type: str
  channel:
    description: The channel the index must be for.
    type: str
    default: stable
  state:
    description: Whether the repository is configured.
    type: str
    choices: [present, absent]
    default: present
  update:
    description:
      - Fetch and verify the repository's index after making sure it is configured
        (C(berth update NAME)); C(changed) when a newer index was taken. Not done in check
        mode. Only with I(state=present).
    type: bool
    default: false
extends_documentation_fragment:
  - berth.core.berth
notes:
  - Supports C(check_mode).
author:
  - berth contributors
'''

EXAMPLES = r'''
- name: Pin the release repository
  berth.core.repo:
    name: origin
    url: http://repo.example/stable/
    key: /etc/berth/release.pub

- name: Pin it and take its newest index, inside a network namespace
  berth.core.repo:
    name: origin
    url: http://10.77.0.254/
    key: /etc/berth/release.pub
    update: true
    command_prefix: [ip, netns, exec, h1]

- name: Forget it
  berth.core.repo:
    name: origin
    state: absent
'''

RETURN = r'''
repository:
  description: The repository as C(berth repo list --json) reports it after the run.
  returned: when present
  type: dict
  sample: {"name": "origin", "urls": ["http://repo.example/stable/"], "keys": ["F5147DEBFAC7C0CC"]}
index:
  description: The index taken or kept, as C(berth update --json) reports it.
  returned: when I(update=true) and not in check mode
  type: dict
  sample: {"repository": "origin", "status": "updated", "serial": 3, "packages": 4}
rc:
  description: berth's exit code of the last command.
  returned: always
  type: int
  sample: 0
hint:
  description: berth's hint line when it failed.
  returned: failure
  type: str
'''

import base64
import binascii
import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.core.plugins.module_utils.berth import (
    common_argument_spec,
    run_berth,
)


def key_id(module, key):
    """The key ID (hex, as berth lists it) of a minisign public key: a path, a .pub file's
    text or the base64 key; None when it cannot be read here (berth then decides)."""
    text = key
    if os.path.isfile(key):
        try:
            with open(key) as f:
                text = f.read()
        except (IOError, OSError) as e:
            module.fail_json(msg='cannot read key %s: %s' % (key, e))
    lines = [ln.strip() for ln in text.splitlines()
             if ln.strip() and not ln.startswith('untrusted comment:')]
    if not lines:
        return None
    try:
        raw = base64.b64decode(lines[0])
    except (binascii.Error, TypeError, ValueError):
        return None
    if len(raw) != 42:
        return None
    return binascii.hexlify(bytearray(reversed(bytearray(raw[2:10])))).decode().upper()


def main():
    argument_spec = common_argument_spec()
    argument_spec.update(
        name=dict(type='str', required=True),
        url=dict(type='list', elements='str'),
        key=dict(type='str', no_log=False),
        channel=dict(type='str', default='stable'),
        state=dict(type='str', choices=['present', 'absent'], default='present'),
        update=dict(type='bool', default=False),
    )
    module = AnsibleModule(
        argument_spec=argument_spec,
        supports_check_mode=True,
        required_if=[('state', 'present', ('url', 'key'))],
    )
    p = module.params
    rc, repos, out, err = run_berth(module, ['repo', 'list'])
    current = None
    for r in repos or []:
        if r.get('name') == p['name']:
            current = r

    if p['state'] == 'absent':
        if current is None:
            module.exit_json(changed=False, rc=rc)
        if not module.check_mode:
            rc, _, out, err = run_berth(module, ['repo', 'remove', p['name']])
        module.exit_json(changed=True, rc=rc)

    kid = key_id(module, p['key'])
    same = (
        current is not None
        and list(current.get('urls') or []) == list(p['url'])
        and current.get('channel') == p['channel']
        and kid is not None
        and list(current.get('keys') or []) == [kid]
    )
    if module.check_mode:
        module.exit_json(changed=not same, repository=current, rc=rc)
    changed = not same
    if not same:
        if current is not None:
            rc, _, out, err = run_berth(module, ['repo', 'remove', p['name']])
        args = ['repo', 'add', p['name']] + list(p['url']) + ['--key', p['key'],
                                                              '--channel', p['channel']]
        rc, _, out, err = run_berth(module, args)
        rc, repos, out, err = run_berth(module, ['repo', 'list'])
        current = None
        for r in repos or []:
            if r.get('name') == p['name']:
                current = r
    result = dict(repository=current)
    if p['update']:
        rc, rows, out, err = run_berth(module, ['update', p['name']])
        row = rows[0] if isinstance(rows, list) and rows else {}
        result['index'] = row
        changed = changed or row.get('status') == 'updated'
    module.exit_json(changed=changed, rc=rc, **result)


if __name__ == '__main__':
    main()
