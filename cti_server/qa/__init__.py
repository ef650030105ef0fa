"""Quality assurance: evaluation forms, scoring of recorded calls and calibration (issue 11).

``forms`` (the form model and the scoring rules) and ``calibration`` (how far several
evaluators of one call disagree) are pure; ``form_loader`` reads the YAML forms. The
evaluations themselves are stored by :mod:`cti_server.storage.evaluations` and served by
:mod:`cti_server.api.evaluations`.
"""
