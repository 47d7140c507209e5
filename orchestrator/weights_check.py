"""`--weights BACKBONE=URI` checked before any trial is queued, where the trials will read it.

Locally that is this machine. On a cluster the driver runs on the head, a CPU node that may hold
no weights and reach no source the GPU nodes reach (their instance profile, their disks), so the
check runs as a small Ray task on a GPU node; either way its one-line error comes first.
Checking lists the source (trainables.weight_sources): nothing is fetched here.
"""

from __future__ import annotations

from collections.abc import Iterable

#: The GPU share the check asks for: it runs beside anything, and only on a GPU node.
CHECK_GPUS = 0.01
#: How long the check may wait for a GPU node (an autoscaler may be starting one).
CHECK_TIMEOUT_S = 900.0


def check_weights(backbone: str, uri: str, layout: bool = True) -> None:
    """Before anything starts: a known backbone and a source it can read; with `layout`, the
    hub layout there too (`layout=False`: the cluster checks that, `check_on_cluster`)."""
    from trainables.backbones import backbone_class, backbone_names
    from trainables.weight_sources import check_source, first_line, open_source

    if backbone not in backbone_names():
        raise ValueError(
            f"unknown backbone {backbone!r} in --weights; allowed: {', '.join(backbone_names())}"
        )
    spec = backbone_class(backbone)
    try:
        if layout:
            check_source(uri, spec.subfolders, spec.hub_id)
        else:
            open_source(uri)  # its form only: a bad scheme fails here, on the head
    except (ValueError, OSError) as error:
        raise ValueError(f"--weights {backbone}=...: {first_line(error)}") from None


def first_problem(sources: Iterable[tuple[str, str]], where: str = "") -> str | None:
    """The first source's one-line error (with where it was checked), or None: a string, so
    a Ray task hands it back as it is, without a traceback around it."""
    for backbone, uri in sources:
        try:
            check_weights(backbone, uri)
        except ValueError as error:
            return f"{error}{where}"
    return None


def _on_gpu_node(sources: list[tuple[str, str]]) -> str | None:
    import ray

    return first_problem(sources, f" (checked on GPU node {ray.util.get_node_ip_address()})")


def check_on_cluster(trials: list[dict], cluster: dict[str, float]) -> None:
    """The trials' weights, checked on a GPU node of the running Ray cluster (`cluster`: its
    resources), or here where it has none; ValueError with the one-line error."""
    sources = sorted(
        {(t.get("backbone", "cogvideox"), str(t["weights"])) for t in trials if t.get("weights")}
    )
    if not sources:
        return
    if cluster.get("GPU"):
        import ray

        task = ray.remote(num_gpus=CHECK_GPUS, num_cpus=0, max_retries=0)(_on_gpu_node)
        try:
            problem = ray.get(task.remote(sources), timeout=CHECK_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise ValueError(
                f"--weights: no GPU node took the weights check in {CHECK_TIMEOUT_S:g} s"
            ) from None
    else:
        problem = first_problem(sources)
    if problem is not None:
        raise ValueError(problem)
