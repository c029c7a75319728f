"""Provider simulators: in-memory GitHub, Jira Cloud and Linear that answer like the real
APIs (see README.md here). Tests use them through ``sim.app()`` with pytest-aiohttp's
``aiohttp_server``; benchmarks and scripts through ``async with serve(sim) as base_url``."""

from .base import Delivery, DeliveryResult, SimClock, hmac_sha256_hex, post_webhook, serve
from .github import GitHubSim
from .jira import JiraSim
from .linear import LinearSim

__all__ = [
    "Delivery",
    "DeliveryResult",
    "GitHubSim",
    "JiraSim",
    "LinearSim",
    "SimClock",
    "hmac_sha256_hex",
    "post_webhook",
    "serve",
]
