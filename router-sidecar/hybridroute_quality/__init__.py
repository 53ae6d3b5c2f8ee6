"""Offline routing quality tools: evaluate scorers on labeled data, calibrate thresholds
and train the learned complexity scorer (the ``hybridroute`` command).

The router never imports this package; it only loads the artifacts it writes."""
