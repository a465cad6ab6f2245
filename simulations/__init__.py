"""Labs and benchmarks: Mininet labs, load generators, scale simulations."""
