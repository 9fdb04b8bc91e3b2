#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: berth contributors
# MIT OR Apache-2.0

from __future__ import absolute_import, division, print_function
__metaclass__ = type

DOCUMENTATION = r'''
---
module: apply
short_description: Converge a berth profile to a profile file
version_added: "0.1.0"
description:
  - Runs C(berth apply FILE --json) and reports C(changed) exactly when berth did.
  - In check mode runs C(berth apply FILE --dry-run --json), which prints the same plan and
    changes nothing.
  - With C(--diff) returns the version changes and the config, directory, user and switch
    steps of berth's report as a before/after diff.
  - When berth fails, the task fails with berth's error line as C(msg), its hint line as
    C(hint) and its exit code as C(rc).
options:
  file:
    description: The profile file (on the managed host).
    type: path
    required: true
  conf:
    description:
      - Where an operator edited a config file and a new one is rendered.
      - C(keep) keeps the operator's file (the new one waits as C(.berth-dist)), C(new) takes
        the new one (the operator's is saved as C(.berth-old)). Maps to C(--conf old|new).
    type: str
    choices: [keep, new]
extends_documentation_fragment:
  - berth.core.berth
notes:
  - Supports C(check_mode) (C(--dry-run)) and C(diff_mode).
author:
  - berth contributors
'''

EXAMPLES = r'''
- name: Converge site-a
  berth.core.apply:
    file: /etc/berth/site-a.toml
    root: /var/lib/berth

- name: Converge site-a, taking the new config files
  berth.core.apply:
    file: /etc/berth/site-a.toml
    conf: new

- name: Converge inside a network namespace
  berth.core.apply:
    file: /etc/berth/site-a.toml
    command_prefix: [ip, netns, exec, h1]
'''

RETURN = r'''
profile:
  description: The profile the file names.
  returned: success
  type: str
  sample: site-a
generation:
  description: The profile's current generation after the run (the one it would be in check mode).
  returned: success
  type: int
  sample: 2
changes:
  description: The steps berth carried out (or would carry out in check mode).
  returned: success
  type: list
  elements: dict
  sample: [{"kind": "config", "path": "site.ini", "action": "create"}]
pending:
  description: Config files whose new rendering waits beside the operator's edit.
  returned: success
  type: list
  elements: raw
  sample: []
dry_run:
  description: Whether berth ran with C(--dry-run) (check mode).
  returned: success
  type: bool
  sample: false
rc:
  description: berth's exit code.
  returned: always
  type: int
  sample: 0
hint:
  description: berth's hint line when it failed.
  returned: failure
  type: str
  sample: fix the profile file; nothing was changed
'''

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.berth.core.plugins.module_utils.berth import (
    common_argument_spec,
    run_berth,
)


def package_lines(packages):
    """berth's switch lines ("n a -> b", "n v (new)", "n v (removed)") as before/after."""
    before, after = [], []
    for line in packages or []:
        if ' -> ' in line:
            left, new = line.split(' -> ', 1)
            name = left.split(' ', 1)[0]
            before.append('package %s' % left)
            after.append('package %s %s' % (name, new))
        elif line.endswith(' (new)'):
            after.append('package %s' % line[:-len(' (new)')])
        elif line.endswith(' (removed)'):
            before.append('package %s' % line[:-len(' (removed)')])
        else:
            after.append('package %s' % line)
    return before, after


def report_diff(report, path):
    before, after = [], []
    for step in report.get('changes') or []:
        kind = step.get('kind')
        if kind == 'switch':
            if step.get('from') is not None:
                before.append('generation %s' % step.get('from'))
            after.append('generation %s' % step.get('to'))
            b, a = package_lines(step.get('packages'))
            before.extend(b)
            after.extend(a)
        elif kind == 'config':
            if step.get('action') != 'create':
                before.append('config %s' % step.get('path'))
            after.append('config %s (%s)' % (step.get('path'), step.get('action')))
        elif kind == 'take-pending':
            before.append('config %s (edited)' % step.get('path'))
            after.append('config %s (new rendering taken)' % step.get('path'))
        elif kind == 'dir':
            after.append('dir %s %s:%s %s (%s)' % (
                step.get('path'), step.get('owner'), step.get('group'),
                step.get('mode'), step.get('action')))
        elif kind == 'user':
            after.append('user %s (create)' % step.get('name'))
        elif kind == 'install':
            after.append('install %s %s from %s' % (
                step.get('package'), step.get('version'), step.get('repository')))
        elif kind == 'restart':
            after.append('restart %s' % step.get('profile'))
        else:
            after.append('%s %s' % (kind, step))
    profile = report.get('profile') or path
    return dict(
        before_header='%s (before)' % profile,
        after_header='%s (after)' % profile,
        before=''.join(line + '\n' for line in before),
        after=''.join(line + '\n' for line in after),
    )


def main():
    argument_spec = common_argument_spec()
    argument_spec.update(
        file=dict(type='path', required=True),
        conf=dict(type='str', choices=['keep', 'new']),
    )
    module = AnsibleModule(argument_spec=argument_spec, supports_check_mode=True)
    p = module.params

    args = ['apply', p['file']]
    if module.check_mode:
        args.append('--dry-run')
    if p['conf']:
        args.extend(['--conf', 'old' if p['conf'] == 'keep' else 'new'])
    rc, report, out, err = run_berth(module, args)
    if not isinstance(report, dict):
        module.fail_json(msg='berth apply printed no report', rc=rc, stdout=out, stderr=err)

    result = dict(
        changed=bool(report.get('changed')),
        rc=rc,
        profile=report.get('profile'),
        generation=report.get('generation'),
        changes=report.get('changes') or [],
        pending=report.get('pending') or [],
        dry_run=bool(report.get('dry_run')),
    )
    if module._diff and result['changed']:
        result['diff'] = report_diff(report, p['file'])
    module.exit_json(**result)


if __name__ == '__main__':
    main()
