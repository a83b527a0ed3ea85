"""luxsim: an agent-based simulator of the US luxury car market (the Lexus service case).

The model (:mod:`sim.model`), its scenario schema (:mod:`sim.scenario`), one module per mechanism, and the
runner, experiments, calibration, reports and app built on them; README.md tours the layout.
"""
