"""The `cluster:` config section: run the same pipeline on a Ray cluster instead of in one process."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator

from vigil.rule_config import Name


class ClusterConfig(BaseModel):
    """Where the cluster is and how cameras and detectors are spread over it (`vigil run --cluster ADDRESS`)."""

    model_config = ConfigDict(extra="forbid")

    address: str = "auto"
    """`auto` (the cluster this machine joined with `ray start`), `ray://HEAD:10001` (Ray Client), `HEAD:6379`,
    or `local` (a Ray instance of this machine alone, started for the run)."""
    namespace: Name = "vigil"
    """The Ray namespace of the coordinator; one per Vigil site on a shared cluster."""
    max_cameras_per_worker: PositiveInt = 4
    cpus_per_detector: PositiveFloat = 4.0
    """On a node without a GPU, one detector replica per this many CPUs (at least one); on a GPU node, one per GPU."""
    spare_workers: int = Field(1, ge=0, le=16)
    """Empty camera workers kept started on each node: a lost node's cameras start in seconds on a spare, rather
    than after a new process has started and loaded Vigil (10–20 s on a small node)."""
    check_interval_s: float = Field(1.0, gt=0, le=10)
    """How often the coordinator checks nodes, workers and replicas: a lost node is noticed within this long."""

    @field_validator("address")
    @classmethod
    def _known_address(cls, address: str) -> str:
        if address in ("auto", "local") or address.startswith("ray://") or ":" in address:
            return address
        raise ValueError("use auto, local, ray://HEAD:10001 or HEAD:6379")

    @property
    def ray_address(self) -> str | None:
        """What `ray.init` is given: None starts a local instance."""
        return None if self.address == "local" else self.address
