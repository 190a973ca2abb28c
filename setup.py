from glob import glob

from setuptools import Extension, find_packages, setup

setup(
    name="fsworker",
    version="0.1.0",
    description="Missed-call auto-callback for FreeSWITCH (ESL)",
    license="MIT",
    python_requires=">=3.11",
    # console_templates holds only HTML: a data package, named so setuptools ships it
    # without warning that an importable directory is missing from ``packages``.
    packages=[*find_packages(include=["fsworker", "fsworker.*"]), "fsworker.service.console_templates"],
    # Optional: where no C compiler is found the build goes on without it and
    # fsworker.esl.proto.frames uses its pure-Python split (same values, slower).
    ext_modules=[Extension("fsworker.esl.proto._speedups", ["fsworker/esl/proto/_speedups.c"], optional=True)],
    include_package_data=True,
    # Operator-facing templates live at the top of the repository; an installed wheel
    # carries them under <prefix>/share/fsworker (fsworker.core.prompts finds them there).
    data_files=[
        ("share/fsworker/templates/hints", glob("templates/hints/*.j2")),
        ("share/fsworker/templates/dialplan", glob("templates/dialplan/*")),
        ("share/fsworker/templates/freeswitch", glob("templates/freeswitch/*")),
        ("share/fsworker/contrib", ["contrib/systemd/fsworker.service", "contrib/grafana/fsworker-dashboard.json"]),
        ("share/fsworker", ["fsworker.example.toml"]),
    ],
    # The migrations are packages (found above); only their non-Python files are listed
    # here, each under the package that holds it, so setuptools has nothing to warn about.
    package_data={
        "fsworker": ["py.typed"],
        "fsworker.service": ["openapi.json"],
        "fsworker.service.console_templates": ["*.html"],
        "fsworker.store": ["alembic.ini"],
        "fsworker.store.migrations": ["script.py.mako"],
    },
    install_requires=[
        "greenswitch>=0.0.19",
        "gevent>=23.9",
        "SQLAlchemy>=2.0",
        "alembic>=1.13",
        "psycopg2-binary>=2.9",
        "Jinja2>=3.1",
        "prometheus-client>=0.20",
        # one identity per phone number (E.164) from any national spelling: Google's
        # libphonenumber metadata, maintained per country; not something to hand-roll
        "phonenumbers>=8.13",
        # zoneinfo needs IANA data; tzdata supplies it where the OS does not
        "tzdata>=2024.1",
    ],
    extras_require={"dev": [
        "pytest>=8", "ruff>=0.5", "hypothesis>=6.100",
        # layer contracts (.importlinter) checked by `make lint`: a maintained tool beats
        # hand-written import checks, and it reads the same import graph Python does
        "import-linter>=2.0",
        # validates the callbacks API's OpenAPI document; brings jsonschema, which the
        # API tests use to check every answer against it
        "openapi-spec-validator>=0.7",
        # drives Debian's chromium in the console's browser test (its own browser
        # download is never used: the test passes executable_path)
        "playwright>=1.40",
    ]},
    entry_points={"console_scripts": ["fsworker=fsworker.cli.main:main"]},
)
