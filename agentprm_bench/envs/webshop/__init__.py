from agentprm_bench.envs.webshop.env import WebShopEnv

__all__ = ["WebShopEnv"]
