"""coldkit-example: the template coldkit plugin (an encoder, a fusion strategy, a reranker and a model).

``coldkit_example.model.TextMatch`` is not imported here: it pulls in coldkit's model layer
(pandas, scipy), and importing the plugin must stay cheap.
"""

from coldkit_example.encoder import CharNgramEncoder
from coldkit_example.plugin import CombMNZFusion

__all__ = ["CharNgramEncoder", "CombMNZFusion"]
