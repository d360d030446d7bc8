from tests.auth.conftest import smtp_server  # noqa: F401 - the real loopback SMTP server fixture
