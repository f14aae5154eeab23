"""Agent search benchmark (``python -m sim.bench.search``): relevance of substring, lexical,
vector and hybrid ranking on a labelled set, and the costs of hybrid search.

Unlike the other benchmarks here it uses the I/O layer: the local embedder
(``gossipreg.io.embed``) makes the vectors, and registration throughput is measured through a
running node.
"""
