"""Demand forecasts per zone and product, their backtests, and the pre-positioning of stock they drive."""
