"""picsource-operator: reconciles `Gallery` custom resources into running, bound galleries.

Layers, bottom-up: `constants` and `spec` (typed view of a Gallery), `builders`
(pure functions returning Kubernetes objects), `conditions` and `autoscale` (pure
decisions), `kube`, `bindings` and `metrics` (thin I/O edges), `reconcile`
(orchestration) and `handlers` (kopf wiring). Start it with
`kopf run -m picsource_operator.main`.
"""
