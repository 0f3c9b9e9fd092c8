"""Data: the shared in-memory shapes, file loaders, named data sets and evaluation splits."""

from __future__ import annotations

from coldkit.data.datasets import (
    Dataset, dataset_names, find_data_root, implicit, load_dataset, load_folder, renumber_items, renumber_users, shuffle_items, subsample,
)
from coldkit.data.interactions import Catalog, Interactions, UserQuery
from coldkit.data.loaders import (
    catalog_from_frame,
    interactions_from_frame,
    load_interactions,
    load_items,
    load_liked_and_rated,
    load_user_profiles,
    read_id_list,
    read_table,
)

__all__ = [
    "Catalog",
    "Interactions",
    "UserQuery",
    "Dataset",
    "load_dataset",
    "load_folder",
    "dataset_names",
    "find_data_root",
    "implicit",
    "renumber_items",
    "renumber_users",
    "shuffle_items",
    "subsample",
    "read_table",
    "catalog_from_frame",
    "interactions_from_frame",
    "load_items",
    "load_interactions",
    "load_liked_and_rated",
    "load_user_profiles",
    "read_id_list",
]
