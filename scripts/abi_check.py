#!/usr/bin/env python3
"""The ABI check of libmnemo.so against the stored baseline abi/libmnemo.abi (docs/api.md).

    abi_check.py check LIB      exit 0 when LIB keeps every program built against the baseline
                                working; 1, with abidiff's report, when it does not
    abi_check.py selftest LIB   exit 0 when the check catches a removed function and a retyped
                                struct member (copies of the baseline with one of each)
    abi_check.py update LIB     rewrite the baseline from LIB: on purpose, after a release

LIB is the built shared library (build/libmnemo.so). Needs abidw and abidiff (Debian's
abigail-tools) and a library built with debug information (meson's default buildtypes have it).
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE = os.path.join(ROOT, 'abi', 'libmnemo.abi')
OPAQUE = os.path.join(ROOT, 'abi', 'opaque.suppr')  # types the public headers leave opaque
HEADERS = os.path.join(ROOT, 'include', 'mnemo')

# abidiff's exit status is a bit set (libabigail's abidiff documentation).
ABI_ERROR, ABI_USAGE, ABI_CHANGE, ABI_INCOMPATIBLE = 1, 2, 4, 8


def abidiff(baseline, lib):
    """abidiff's status and report. Added functions are compatible (--no-added-syms); types defined
    outside the public headers are private, so internal structs may change freely, and so may the
    layout of the types the public headers leave opaque (abi/opaque.suppr)."""
    cmd = ['abidiff', '--fail-no-debug-info', '--no-added-syms', '--hd1', HEADERS, '--hd2', HEADERS,
           '--suppressions', OPAQUE, baseline, lib]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return p.returncode, p.stdout


def check(lib):
    rc, report = abidiff(BASELINE, lib)
    if rc == 0:
        print('abi: %s keeps the ABI of %s' % (lib, os.path.relpath(BASELINE, ROOT)))
        return 0
    if rc & (ABI_ERROR | ABI_USAGE):
        print('abi: abidiff failed (status %d):\n%s' % (rc, report))
        return 1
    print(report)
    print('abi: %s changes the ABI of %s (abidiff status %d%s). A change a 1.x program could notice\n'
          'is a new major version (docs/api.md); members appended to a versioned struct are not, but\n'
          'stop this check too: when the report shows only those, run `scripts/abi_check.py update %s`\n'
          'and commit the new baseline with a CHANGELOG entry.'
          % (lib, os.path.relpath(BASELINE, ROOT), rc, ', incompatible' if rc & ABI_INCOMPATIBLE else '', lib))
    return 1


def mutated(text, what):
    """A copy of the baseline XML with one break: 'removed' renames mnemo_flush (so the library
    seems to have lost a function), 'retyped' makes mnemo_stats.cache_hits an unsigned int."""
    if what == 'removed':
        out, n = re.subn(r"\bmnemo_flush\b", 'mnemo_flush_removed', text)
        return out if n else None
    uint = re.search(r"<type-decl name='unsigned int'[^>]* id='([^']+)'", text)
    stats = re.search(r"<class-decl name='mnemo_stats'.*?</class-decl>", text, re.S)
    if not uint or not stats:
        return None
    body, n = re.subn(r"(<var-decl name='cache_hits' type-id=')[^']+'", r"\g<1>%s'" % uint.group(1), stats.group(0))
    return text[:stats.start()] + body + text[stats.end():] if n else None


def selftest(lib):
    with open(BASELINE) as f:
        text = f.read()
    rc0, report = abidiff(BASELINE, lib)
    if rc0:
        print('abi selftest: the library already differs from the baseline (status %d):\n%s' % (rc0, report))
        return 1
    failed = 0
    for what, want in (('removed', ABI_INCOMPATIBLE), ('retyped', ABI_CHANGE)):
        broken = mutated(text, what)
        if broken is None:
            print('abi selftest: the baseline has no place for the %s break (regenerate the test)' % what)
            failed = 1
            continue
        with tempfile.NamedTemporaryFile('w', suffix='.abi', delete=False) as t:
            t.write(broken)
        try:
            rc, report = abidiff(t.name, lib)
        finally:
            os.unlink(t.name)
        caught = (rc & want) and not (rc & (ABI_ERROR | ABI_USAGE))
        print('abi selftest: %s: abidiff status %d, %s' % (what, rc, 'caught' if caught else 'MISSED'))
        if not caught:
            print(report)
            failed = 1
    return failed


def update(lib):
    os.makedirs(os.path.dirname(BASELINE), exist_ok=True)
    # Only what the library exports and the public headers define; no build paths, so the
    # baseline does not depend on where the tree was built.
    subprocess.run(['abidw', '--exported-interfaces-only', '--headers-dir', HEADERS, '--drop-private-types',
                    '--no-comp-dir-path', '--no-corpus-path', '--out-file', BASELINE, lib], check=True)
    print('abi: wrote %s from %s' % (os.path.relpath(BASELINE, ROOT), lib))
    return 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ('check', 'selftest', 'update'):
        print(__doc__, file=sys.stderr)
        return 2
    lib = os.path.abspath(argv[2])
    if not os.path.exists(lib):
        print('abi: no library at %s (build first)' % lib, file=sys.stderr)
        return 2
    return {'check': check, 'selftest': selftest, 'update': update}[argv[1]](lib)


if __name__ == '__main__':
    sys.exit(main(sys.argv))
