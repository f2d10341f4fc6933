"""Replay and backtest: the live decisions driven over history by a batched reader."""
