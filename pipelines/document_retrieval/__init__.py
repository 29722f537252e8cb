"""Document retrieval: stacked denoising auto-encoder codes of bags of words, searched by
cosine similarity."""
