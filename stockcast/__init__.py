"""stockcast: next-session closing-price forecasts."""
