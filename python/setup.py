"""pip install ./python (scripts/python.sh does it into .venv). Needs a meson build of the C library
in <repo>/build or MNEMO_BUILD_DIR; the extension links its static archive (see _build_mnemo.py)."""
import os
import re

from setuptools import setup

# the C library's version, from the project's meson.build
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "meson.build")) as f:
    VERSION = re.search(r"version\s*:\s*'([^']+)'", f.read()).group(1)

setup(
    name="mnemo",
    version=VERSION,
    description="Python binding of mnemo, an embeddable multi-model database",
    packages=["mnemo"],
    python_requires=">=3.11",
    setup_requires=["cffi>=1.15"],
    install_requires=["cffi>=1.15", "numpy"],
    cffi_modules=["_build_mnemo.py:ffibuilder"],
    zip_safe=False,
)
