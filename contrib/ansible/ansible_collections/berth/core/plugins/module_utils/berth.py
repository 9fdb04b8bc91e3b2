# -*- coding: utf-8 -*-
# Shared code of the berth.core modules: build the command, run it, read its JSON,
# and turn berth's "error: ..." / "hint: ..." lines into a failed task.

from __future__ import absolute_import, division, print_function
__metaclass__ = type

import json


def common_argument_spec():
    """Options every berth.core module takes."""
    return dict(
        berth=dict(type='str', default='berth'),
        root=dict(type='path'),
        command_prefix=dict(type='list', elements='str'),
    )


def berth_command(module, args):
    """The argv: [command_prefix...] berth [--root R] ARGS... --json."""
    p = module.params
    argv = list(p.get('command_prefix') or [])
    argv.append(p['berth'])
    if p.get('root'):
        argv.extend(['--root', p['root']])
    argv.extend(args)
    argv.append('--json')
    return argv


def split_error(stderr):
    """berth's error and hint lines from its stderr (the last of each)."""
    error = None
    hint = None
    for line in (stderr or '').splitlines():
        if line.startswith('error: '):
            error = line[len('error: '):]
        elif line.startswith('hint: '):
            hint = line[len('hint: '):]
    return error, hint


def run_berth(module, args, ok_codes=(0,)):
    """Run berth with ARGS; on an exit code not in OK_CODES fail the task with berth's
    error, hint and exit code. Returns (rc, parsed JSON or None, stdout, stderr)."""
    argv = berth_command(module, args)
    rc, out, err = module.run_command(argv)
    if rc not in ok_codes:
        error, hint = split_error(err)
        module.fail_json(
            msg=error or ('berth exited with %d' % rc),
            hint=hint,
            rc=rc,
            cmd=argv,
            stdout=out,
            stderr=err,
        )
    data = None
    if out.strip():
        try:
            data = json.loads(out)
        except ValueError as e:
            module.fail_json(msg='berth printed no JSON: %s' % e, rc=rc, cmd=argv,
                             stdout=out, stderr=err)
    return rc, data, out, err
