"""Nearest neighbours and the k-NN vote over a collection: search, classify, evaluate."""
