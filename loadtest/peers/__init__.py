"""Peer runners: the systems camfleet is compared with, on the same TorchScript model and the same cameras.

Each runner is a standalone program that a benchmark orchestrator launches as a subprocess
(``python -m loadtest.peers.naive ...`` or ``python -m loadtest.peers.roboflow ...``, from the repository
root) and that prints one JSON result (:class:`loadtest.peers.common.PeerResult`) on stdout. Nothing here
imports :mod:`pipeline`: the Roboflow runner runs in its own virtual environment (``.venv-peers``), whose
numpy, av and pydantic pins conflict with the project's.
"""
