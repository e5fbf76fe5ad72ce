"""An agent's memory in Python: remember records with metadata and embeddings, recall the nearest
ones by similarity (with a metadata filter), by keywords, and follow the links between memories.
The Python twin of examples/agent_memory.c; it checks its own answers and exits 1 on a wrong one.

Run: python3 examples/python/agent_memory.py [DIR]   (default: a temporary directory)
"""
import sys
import tempfile

import numpy as np

import mnemo

# toy embeddings: how much a memory is about (food, pets, work, travel)
MEMORIES = [
    ("m1", "The user's cat is called Miso", {"kind": "fact", "topic": "pets"}, [0.1, 0.9, 0, 0]),
    ("m2", "Miso only eats salmon pate", {"kind": "fact", "topic": "pets"}, [0.7, 0.7, 0, 0]),
    ("m3", "Meeting with Dana moved to Friday", {"kind": "event", "topic": "work"}, [0, 0, 1, 0.1]),
    ("m4", "Flight to Lisbon on the 12th", {"kind": "event", "topic": "travel"}, [0, 0, 0.3, 0.9]),
    ("m5", "The user prefers short answers", {"kind": "preference", "topic": "style"}, [0.2, 0.2, 0.2, 0.2]),
    ("m6", "Book a cat sitter while in Lisbon", {"kind": "task", "topic": "pets"}, [0, 0.7, 0, 0.7]),
]


def expect(cond, what):
    if not cond:
        print(f"unexpected result: {what}", file=sys.stderr)
        sys.exit(1)


def main(path):
    with mnemo.open(path, create=True, dim=4, metric="cosine") as db:
        # records and their embeddings commit together: one transaction, one batch of vectors
        with db.transaction() as tx:
            for rid, content, meta, _ in MEMORIES:
                tx.put_record(rid, content, importance=0.5, metadata=meta)
            tx.put_vectors([m[0] for m in MEMORIES], np.array([m[3] for m in MEMORIES], dtype=np.float32))
        db.link("m2", "about", "m1")
        db.link("m6", "about", "m1")
        db.link("m6", "during", "m4")
        db.enable_text(language="english")
        print(f"remembered {len(MEMORIES)} memories and 3 links")

        # "what does the cat eat?" is mostly about pets, a bit about food
        query = [0.5, 0.8, 0, 0]
        hits = db.search(query, k=3)
        print("nearest to the question:", ", ".join(f"{h.id} {h.distance:.3f}" for h in hits))
        expect([h.id for h in hits][:2] == ["m2", "m1"], "nearest memories")

        facts = db.search(query, k=10, filter={"kind": "fact"})
        print("only facts:", " ".join(h.id for h in facts))
        expect([h.id for h in facts] == ["m2", "m1"], "filtered search")

        # a travel memory, then the memories that point at it
        trip = db.search([0, 0, 0.2, 1], k=1)[0]
        expect(trip.id == "m4", "travel memory")
        for n in db.neighbors(trip.id, direction="in"):
            print(f'{trip.id} <-{n.label}- {n.id}: "{db.get_record(n.id).content}"')
        expect([n.id for n in db.neighbors(trip.id, direction="in")] == ["m6"], "links to the trip")

        # the nearest memory and its neighbourhood in one call
        around = db.search_expand(query, k=1, hops=1)
        print("nearest and its neighbourhood:", " ".join(f"{h.id}(hops {h.hops})" for h in around))
        expect([(h.id, h.hops) for h in around] == [("m2", 0), ("m1", 1)], "expansion")

        # keywords and meaning together
        recalled = db.recall(text="Lisbon", vector=[0, 0.5, 0, 0.8], k=2)
        print("recall 'Lisbon' near pets+travel:", " ".join(h.id for h in recalled))
        expect({h.id for h in recalled} == {"m4", "m6"}, "hybrid recall")

        # forgetting a memory takes its embedding and links with it
        db.delete_record("m2")
        expect(db.search(query, k=1)[0].id == "m1", "search after forgetting")
        expect(not db.edge_exists("m2", "about", "m1"), "link forgotten")
        expect(db.check() == {"edges": 2, "vectors": 5}, "consistency check")
    print("ok")


if __name__ == "__main__":
    if len(sys.argv) > 1:
        main(sys.argv[1])
    else:
        with tempfile.TemporaryDirectory(prefix="mnemo-agent-") as tmp:
            main(tmp + "/memory")
