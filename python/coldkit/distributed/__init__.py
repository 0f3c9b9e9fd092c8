"""Scale-out on Ray: encode a catalogue with Ray Data, exact sharded top-k for many users.

Install the extra: ``pip install 'coldkit[ray]'``. Importing this package does not import Ray;
the first call that needs it does, and says how to install it when it is missing.

Example::

    from coldkit import distributed

    distributed.init()  # a local Ray, or the cluster at $RAY_ADDRESS / an address given here
    manifest = distributed.encode_catalog_distributed(
        catalog, "bert", {}, text_fields=["title", "genres"], out_dir="/shared/vectors", num_actors=4)
    ids, item_vectors = distributed.load_vectors("/shared/vectors")
    shards = distributed.shards_from_manifest("/shared/vectors", num_shards=8)
    scores, items = distributed.sharded_topk(user_vectors, shards, k=20, exclude=seen)

See ``docs/distributed.md`` for running on a cluster and what each stage costs.
"""

from coldkit.distributed._ray import RayConnection, RayNotInstalledError, init, require_ray
from coldkit.distributed.encode import EncodeActor, encode_catalog_distributed
from coldkit.distributed.store import Manifest, ShardInfo, load_vectors, read_manifest, read_shard
from coldkit.distributed.topk import CatalogShards, merge_topk, shard_catalog, sharded_topk, shards_from_manifest

__all__ = [
    "init",
    "require_ray",
    "RayConnection",
    "RayNotInstalledError",
    "encode_catalog_distributed",
    "EncodeActor",
    "Manifest",
    "ShardInfo",
    "load_vectors",
    "read_manifest",
    "read_shard",
    "CatalogShards",
    "shard_catalog",
    "shards_from_manifest",
    "sharded_topk",
    "merge_topk",
]
