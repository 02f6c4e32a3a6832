"""`vigil cluster status` as text: nodes, workers, detector replicas and the placement history."""

from __future__ import annotations

from vigil.cluster.coordinator import ClusterStatus

_HISTORY_SHOWN = 20


def status_text(status: ClusterStatus) -> str:
    """The status as an operator reads it, one section per kind.

    Example:
        >>> print(status_text(ClusterStatus((), (), (), ())))
        nodes (0):
        workers (0):
        detector replicas (0):
        placement history (0):
    """
    address = {node.node_id: node.address for node in status.nodes}
    lines = [f"nodes ({len(status.nodes)}):"]
    for node in status.nodes:
        state = " draining" if node.draining else ""
        lines.append(f"  {node.address} {node.node_id[:12]}{state}  cpus {node.cpus:g} gpus {node.gpus}  "
                     f"workers: {', '.join(node.workers) or '-'}")
    lines.append(f"workers ({len(status.workers)}):")
    for worker in status.workers:
        where = address.get(worker.node_id or "", "being placed")
        line = f"  {worker.name} on {where}: {', '.join(worker.cameras)}"
        if (report := worker.report) is not None:
            mean = report.frames / report.batches if report.batches else 0.0
            streaming = sum(h.state == "streaming" for h in report.health.values())
            line += (f"  streaming {streaming}/{len(worker.cameras)}  frames {report.frames} batches "
                     f"{report.batches} (mean {mean:.2f})  overflowed {report.overflowed}  writer queued "
                     f"{report.writer_queued} journal {report.journal_pending}")
        lines.append(line)
    lines.append(f"detector replicas ({len(status.replicas)}):")
    for replica in status.replicas:
        lines.append(f"  {replica.name} on {address.get(replica.node_id, replica.node_id[:12])}: {replica.device} "
                     f"{replica.backend} {replica.precision} model {replica.model}  frames {replica.frames} batches "
                     f"{replica.batches} (mean {replica.mean_batch:.2f})  backlog {replica.backlog}  inference p50 "
                     f"{replica.inference_p50_ms:.0f} ms")
    lines.append(f"placement history ({len(status.history)}):")
    for change in status.history[-_HISTORY_SHOWN:]:
        origin = "" if change.from_address is None else f"{change.from_address} → "
        lines.append(f"  {change.at:%Y-%m-%d %H:%M:%S} UTC {change.worker} ({', '.join(change.cameras)}) {origin}"
                     f"{change.to_address}: {change.reason}, {change.took_s:.1f} s")
    return "\n".join(lines)
