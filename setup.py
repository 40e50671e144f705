from setuptools import setup

setup(
    cffi_modules=["src/veil/_build.py:ffibuilder"],
)
