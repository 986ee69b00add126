"""Test support that the tests and the benchmarks share, importable without ``tests/``.

- ``tools``       the repository root, free ports, external tools (checkov, actionlint) found or skipped
- ``emulator``    start/stop a LocalStack of our own (``localstack_main`` is what it runs)
- ``fakes``       botocore hooks that answer one AWS operation as AWS would, and an API-call recorder
- ``harness``     run ``deploy.py``'s ``main()`` in-process and get its exit code, output and AWS calls
"""
