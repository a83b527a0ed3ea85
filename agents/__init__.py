"""The Mesa agents: buyers (:mod:`agents.buyer`), brands (:mod:`agents.brand`), and the brands' service
policies and strategies (:mod:`agents.policies`)."""
