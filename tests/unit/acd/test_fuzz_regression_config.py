"""A crash the ``config`` fuzz target (loadtests/fuzz/config_file.py) reaches in the dialer's
settings: ``ZoneInfo`` raises OSError (IsADirectoryError for "America", a tzdata directory;
ENAMETOOLONG for a long name), and ``acd/dialer_settings.py:_zone`` catches only ValueError, so
``parse_config`` raised OSError instead of ``ConfigError``; it catches OSError now.
"""

from __future__ import annotations

import pytest

from cti_server.config import ConfigError, parse_config


@pytest.mark.parametrize("zone", ["America", "A" * 300], ids=["directory", "too-long"])
def test_a_time_zone_that_is_not_a_zone_file_is_a_config_error(zone: str) -> None:
    with pytest.raises(ConfigError, match=r"^cti\.yaml:1: dialer\.time_zone: "):
        parse_config(f"dialer: {{time_zone: {zone}}}", "cti.yaml")
