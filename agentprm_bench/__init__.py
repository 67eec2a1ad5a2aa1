"""agentprm-bench: process reward models for LLM agents, benchmarked with search-time scaling."""

from agentprm_bench.envs import ENVS, resolve_env

__version__ = "0.1.0"
__all__ = ["ENVS", "resolve_env", "__version__"]
