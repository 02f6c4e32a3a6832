"""Vigil on a Ray cluster: camera workers, detector replicas and a coordinator that places and re-places them."""
