import pytest

import mnemo


@pytest.fixture
def g(db):
    for n in "abcde":
        db.put_record(n, f"node {n}")
    db.link("a", "knows", "b", weight=1.0)
    db.link("b", "knows", "c", weight=1.0)
    db.link("a", "likes", "c", weight=5.0, props={"since": 2020})
    db.link("c", "knows", "d")
    return db


def test_link_get_exists_unlink(g):
    e = g.get_edge("a", "likes", "c")
    assert e == mnemo.Edge("a", "likes", "c", 5.0, {"since": 2020})
    assert g.edge_exists("a", "knows", "b") and not g.edge_exists("b", "knows", "a")
    g.link("a", "likes", "c", weight=2.0)  # updates
    assert g.get_edge("a", "likes", "c").weight == 2.0
    g.unlink("a", "likes", "c")
    assert not g.edge_exists("a", "likes", "c")
    with pytest.raises(mnemo.NotFound):
        g.unlink("a", "likes", "c")
    with pytest.raises(mnemo.NotFound):
        g.get_edge("a", "likes", "c")


def test_link_errors_and_create_missing(g):
    with pytest.raises(mnemo.NotFound):
        g.link("a", "knows", "nobody")
    g.link("a", "knows", "newbie", create_missing=True)
    assert g.get_record("newbie").content == ""
    with pytest.raises(mnemo.InvalidArgument):
        g.link("a", "", "b")
    with pytest.raises(mnemo.InvalidArgument):
        g.link("a", "knows", "b", weight=float("inf"))
    with pytest.raises(mnemo.InvalidArgument):
        g.link("a", "knows", "b", props="[1]")


def test_neighbors_degree(g):
    out = list(g.neighbors("a"))
    assert [(n.id, n.label, n.direction) for n in out] == [("b", "knows", "out"), ("c", "likes", "out")]
    assert out[1].props == {"since": 2020}
    assert [n.id for n in g.neighbors("c", direction="in")] == ["b", "a"]
    assert [n.id for n in g.neighbors("c", direction="both", label="knows")] == ["d", "b"]
    assert len(list(g.neighbors("c", direction="both", limit=1))) == 1
    assert g.degree("c", "both") == 3 and g.degree("a", label="likes") == 1
    with pytest.raises(mnemo.NotFound):
        g.neighbors("zz")
    with pytest.raises(mnemo.InvalidArgument):
        g.neighbors("a", direction="sideways")


def test_traverse_is_a_generator_of_visits(g):
    visits = g.traverse("a")
    assert next(visits) == mnemo.Visit("a", 0, None, None)
    rest = list(visits)
    assert {(v.id, v.depth) for v in rest} == {("b", 1), ("c", 1), ("d", 2)}
    assert [v.id for v in g.traverse(["a"], label="knows")] == ["a", "b", "c", "d"]
    assert [v.id for v in g.traverse("d", direction="in", max_depth=1)] == ["d", "c"]
    assert len(list(g.traverse("a", max_nodes=2))) == 2
    with pytest.raises(mnemo.NotFound):
        g.traverse(["a", "zz"])


def test_shortest_paths(g):
    p = g.shortest_path("a", "d")
    assert p.nodes == ["a", "c", "d"] and p.labels == ["likes", "knows"] and p.hops == 2
    w = g.shortest_path("a", "d", weighted=True)
    assert w.nodes == ["a", "b", "c", "d"] and w.weight == 3.0
    with pytest.raises(mnemo.NotFound):
        g.shortest_path("d", "a")
    assert g.shortest_path("d", "a", direction="in").nodes == ["d", "c", "a"]
    with pytest.raises(mnemo.InvalidArgument):
        g.shortest_path("a", "d", weighted=True, max_hops=1)


def test_import_edgelist_and_check(db, tmp_path):
    f = tmp_path / "edges.txt"
    f.write_text("# a comment\n1 2\n2\t3\n3 1 0.5\n")
    s = db.import_edgelist(f, label="road", undirected=True)
    assert s == mnemo.ImportStats(lines=4, edges=6, nodes_created=3)
    assert db.get_edge("3", "road", "1").weight == 0.5
    assert db.check_graph() == 6
    bad = tmp_path / "bad.txt"
    bad.write_text("7 8\nonly-one-column\n")
    with pytest.raises(mnemo.InvalidArgument) as e:
        db.import_edgelist(bad)
    assert "line 2" in e.value.message and e.value.stats.edges == 0
    with pytest.raises(mnemo.NotFound):
        db.import_edgelist(tmp_path / "missing.txt")


def test_deleting_a_record_takes_its_edges(g):
    g.delete_record("b")
    assert not g.edge_exists("a", "knows", "b")
    assert [n.id for n in g.neighbors("c", direction="in")] == ["a"]
    assert g.check()["edges"] == 2
