"""The HybridRoute operator (control plane).

Layers, enforced by import-linter (.importlinter):
``cli`` -> ``handlers`` (kopf decorators only) -> ``reconcile`` -> ``kube`` (the only module
that talks to the Kubernetes API) and the pure ``render``/``status``/``drift`` functions ->
``api`` (the HybridRoute spec models, built on ``hybridroute_policy``).
"""
