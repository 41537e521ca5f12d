"""Plain BM25 (bm25s: Lucene BM25, English Snowball stemming and stop words), the baseline our
retrieval is compared with in the same run."""


def bm25_search(texts: list[str], queries: list[str], k: int) -> list[list[int]]:
    """For each query, the indices of its `k` best texts, best first (fewer when fewer match)."""
    import bm25s
    import Stemmer

    stemmer = Stemmer.Stemmer("english")
    retriever = bm25s.BM25()
    retriever.index(
        bm25s.tokenize(texts, stopwords="en", stemmer=stemmer, show_progress=False), show_progress=False
    )
    tokens = bm25s.tokenize(queries, stopwords="en", stemmer=stemmer, show_progress=False)
    results, scores = retriever.retrieve(tokens, k=min(k, len(texts)), show_progress=False)
    return [
        [int(doc) for doc, score in zip(row, row_scores, strict=True) if score > 0]
        for row, row_scores in zip(results, scores, strict=True)
    ]
