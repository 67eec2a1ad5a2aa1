"""Search-time scaling: Best-of-N and beam search guided by a reward model, with compute counts."""
