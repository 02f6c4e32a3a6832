"""The operator dashboard: live view, alert review, camera health."""
