"""examples/python/agent_memory.py runs as a test: it checks its own answers (exit 1 if wrong)."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "python", "agent_memory.py")


def test_agent_memory_example(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, EXAMPLE, str(tmp_path / "memory")], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("ok")
    assert "only facts: m2 m1" in r.stdout
