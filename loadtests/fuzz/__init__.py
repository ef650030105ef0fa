"""Coverage-guided fuzzing (atheris + libFuzzer) of every parser that reads outside input.

One module per target; each is an atheris entry point taking libFuzzer flags, and ``run.py``
runs them in subprocesses and prints a table. A target accepts only the error types its parser
documents (``SipParseError`` with a status hint, ``SdpError``, ``RtpError``, ``DtmfError``,
``ConfigError`` with ``file:line:``); any other exception, or a broken round-trip invariant, is
a crash that libFuzzer saves as ``crash-<sha1>`` under ``-artifact_prefix``.

``loadtests/fuzz_sip.py`` is the other fuzzer: blind mutation of whole datagrams through the
whole signalling path (transactions, dialogs, call controller), with no coverage feedback.
"""

from __future__ import annotations

# Target name -> module under loadtests.fuzz (``python -m loadtests.fuzz.<module>``).
TARGETS: dict[str, str] = {
    "sip": "sip_message",
    "digest": "digest_auth",
    "sdp": "sdp_body",
    "rtp": "rtp_packet",
    "dtmf": "telephone_event",
    "ivr_flow": "ivr_flow",
    "config": "config_file",
}
