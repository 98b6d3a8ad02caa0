"""The imperative shell: informers, work queue, leader election, reconcilers, main loop."""
