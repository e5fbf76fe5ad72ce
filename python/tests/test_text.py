import pytest

import mnemo

DOCS = {
    "d1": "The cat sat on the mat",
    "d2": "Cats and dogs are running in the park",
    "d3": "A quarterly report on sales figures",
}


@pytest.fixture
def tdb(db):
    for rid, text in DOCS.items():
        db.put_record(rid, text, metadata={"len": len(text)})
    db.enable_text(language="english", stopwords=True)
    return db


def test_enable_info_search_disable(tdb):
    info = tdb.text_info()
    assert info.stem_language == "english" and info.stopwords and info.ready and info.documents == 3
    hits = tdb.text_search("cats")
    assert [h.id for h in hits] == ["d1", "d2"] or [h.id for h in hits] == ["d2", "d1"]
    assert all(h.score > 0 for h in hits)
    assert [h.id for h in tdb.text_search('"sales figures"')] == ["d3"]
    assert [h.id for h in tdb.text_search("cat -dogs")] == ["d1"]
    assert [h.id for h in tdb.text_search("cat", filter={"len": {"$gt": 30}})] == ["d2"]
    assert tdb.text_search("the") == []  # only a stop word
    with pytest.raises(mnemo.Exists):
        tdb.enable_text()
    tdb.disable_text()
    with pytest.raises(mnemo.NotFound):
        tdb.text_info()
    with pytest.raises(mnemo.InvalidArgument):
        tdb.text_search("cat")


def test_text_follows_record_writes_in_transactions(tdb):
    with tdb.transaction() as tx:
        tx.put_record("d4", "a cat video")
        assert "d4" in [h.id for h in tx.text_search("video")]  # its own writes take part
    tdb.delete_record("d1")
    assert [h.id for h in tdb.text_search("mat")] == []


def test_text_errors(db):
    with pytest.raises(mnemo.InvalidArgument):
        db.enable_text(language="klingon")
    db.enable_text()
    with pytest.raises(mnemo.InvalidArgument):
        db.text_search("x", k=0)
    with pytest.raises(mnemo.InvalidArgument):
        db.text_search("x", k1=-1.0)


def test_recall_fuses_text_and_vectors(tdb):
    tdb.put_vector("d1", [1, 0, 0, 0])
    tdb.put_vector("d2", [0, 1, 0, 0])
    tdb.put_vector("d3", [0, 0, 1, 0])
    hits = tdb.recall(text="report", vector=[0, 0, 1, 0], k=3)
    assert hits[0].id == "d3" and hits[0].text_rank == 1 and hits[0].vector_rank == 1
    only_vec = tdb.recall(vector=[1, 0, 0, 0], k=1, recency_weight=0.0, importance_weight=0.0,
                          vector_weight=1.0)
    assert [h.id for h in only_vec] == ["d1"] and only_vec[0].text_rank == 0
    w = tdb.recall(text="cat", k=2, fusion="weighted", clock="created", filter={"len": {"$lt": 30}})
    assert [h.id for h in w] == ["d1"]
    with pytest.raises(mnemo.InvalidArgument):
        tdb.recall(k=3)  # neither text nor vector
    with pytest.raises(mnemo.WrongDimension):
        tdb.recall(vector=[1, 0], k=3)
    with pytest.raises(mnemo.InvalidArgument):
        tdb.recall(text="x", fusion="average")


def test_recall_weights_default_one_by_one(tdb):
    # Raising one weight keeps the others at their default of 1 (in C, naming one weight sets all
    # four): relevance stays in the score.
    base = tdb.recall(text="report", k=1)[0]
    more_recency = tdb.recall(text="report", k=1, recency_weight=2.0)[0]
    assert more_recency.id == base.id and more_recency.relevance == pytest.approx(base.relevance)
    assert more_recency.relevance > 0
    assert more_recency.score == pytest.approx(base.score + more_recency.recency)
    no_recency = tdb.recall(text="report", k=1, recency_weight=0.0)[0]
    assert no_recency.score == pytest.approx(base.score - base.recency)


def test_enable_reports_progress(db):
    with db.transaction() as tx:
        for i in range(300):
            tx.put_record(f"r{i}", f"word{i} common")
    calls = []
    db.enable_text(progress=lambda done, total: calls.append((done, total)))
    assert calls and calls[-1][0] == 300 and calls[-1][1] >= 300
    assert all(a[0] <= b[0] for a, b in zip(calls, calls[1:]))
    assert len(db.text_search("common", k=1000)) == 300
    db.disable_text()

    def boom(done, total):
        raise RuntimeError("from progress")
    with pytest.raises(RuntimeError):
        db.enable_text(progress=boom)
    assert db.text_info().ready  # the build finished all the same


def test_a_progress_that_is_not_callable_is_refused_before_the_build(db):
    # it was called (TypeError) only once the whole build had run, then raised after it
    db.put_record("r", "word")
    with pytest.raises(mnemo.InvalidArgument, match="progress"):
        db.enable_text(progress=42)
    with pytest.raises(mnemo.NotFound, match="not enabled"):
        db.text_info()  # nothing was built
