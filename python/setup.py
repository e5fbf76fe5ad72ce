"""pip install ./python (scripts/python.sh does it into .venv). Needs a meson build of the C library
in <repo>/build or MNEMO_BUILD_DIR; the extension links its static archive (see _build_mnemo.py)."""
from setuptools import setup

setup(
    name="mnemo",
    version="0.1.0",
    description="Python binding of mnemo, an embeddable multi-model database",
    packages=["mnemo"],
    python_requires=">=3.11",
    setup_requires=["cffi>=1.15"],
    install_requires=["cffi>=1.15", "numpy"],
    cffi_modules=["_build_mnemo.py:ffibuilder"],
    zip_safe=False,
)
