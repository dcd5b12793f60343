"""Backtests: replay usage history through a sizing strategy and score it on the period after."""
