"""Small helpers that tests share; the real servers and the cluster live in tests/harness.

- ``images``: every image a test uploads or analyses, built in memory (sample photos,
  plain JPEGs and PNGs, damaged and hostile files).
- ``waiting``: ``wait_until``, the one polling loop, and ``wait_serving`` for a web server.
- ``env``: the environment variables the web tier, the worker and their subprocesses read.
- ``web``: ``WebClient``, a browser's view of the pages, and ``app_services(app)``.
- ``commands``: ``run_checked``, a command-line tool whose failure fails the test.
- ``kubectl``: the type of the ``kubectl`` fixture.

Fixtures do not live here: they come from the conftest.py files by pytest injection.
"""
