"""The checker: drives a real implementation through the agent and checks it against the model.

``checker.agent`` runs inside the target interpreter (stdlib only); ``checker.driver`` talks
to it; ``checker.machine`` is the Hypothesis refinement machine; ``checker.cli`` is the
command line. This is the only package that joins ``model`` and ``impl``.
"""
