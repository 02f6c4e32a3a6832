"""On-site fine-tuning: site datasets, training, evaluation against the live model, a registry with promote and rollback."""
