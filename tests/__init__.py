"""The test suite, a package so that shared code is imported as ``tests.helpers``.

Where things are, for a new test:

- conftest.py: fixtures. ``workspace`` (a copy of the example network in tmp_path), ``cli``
  (the CLI over it), ``tls`` (a test CA), ``smtp_servers`` (start real SMTP servers on
  127.0.0.1) and ``smtp_server`` (one of them, set up by ``@pytest.mark.smtp_server(...)``).
- helpers.py: change network.toml as data (``edit_channel``, ``edit_member``,
  ``edit_seminar``, ``edit_table``, ``use_smtp``), ``copy_workspace``, shared test data.
- smtp_server.py: the server behind the fixtures; subclass ``RecordingHandler`` for
  misbehaviour its arguments do not cover.

A test module imports from these, never from conftest or from another test module.
"""
