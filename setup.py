"""Ship the top-level providers/ and mappings/ folders inside the wheel.

The user's layout keeps provider YAML at the top of the repository; the wheel carries them as
the data packages ``engine.bundled_providers`` and ``engine.bundled_mappings``.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["engine", "engine.*", "runtime", "runtime.*"]),
        "engine.bundled_providers",
        "engine.bundled_mappings",
    ],
    package_dir={
        "engine.bundled_providers": "providers",
        "engine.bundled_mappings": "mappings",
    },
)
